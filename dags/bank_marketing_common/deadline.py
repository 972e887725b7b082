"""The training DAG's deadline alert: Airflow's ``DeadlineAlert`` with a callback that names where the run is stuck.

Airflow creates a deadline for each run (its logical date, the end of its data interval under the DAG's
trigger timetable, plus ``config.DEADLINE_HOURS``) and, when a run misses it, has the executor call
``alert_late_run`` with the run as the REST API shows it. The callback runs outside any task, where Airflow's
task API offers no task states; it reads them from the public REST API through the ``airflow_api``
connection (base URL in ``host``; ``login``/``password`` of a read-only user when the API needs a token).
Without that connection the alert still goes out, naming the run and saying that the task is unknown.
"""

from __future__ import annotations

import inspect
import logging
import sys
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

from bank_marketing_common.aws import publish_sns
from include.bank_marketing import config, deadline, notification

API_CONN_ID = "airflow_api"
REQUEST_TIMEOUT = 30
log = logging.getLogger(__name__)


def late_run_alerts() -> list[DeadlineAlert] | None:
    """The DAG's deadlines, each followed by ``alert_late_run``: logical date + ``config.DEADLINE_HOURS`` for
    scheduled runs (and runs triggered with a logical date), and queued time + the same for runs without a
    logical date (started by a file event, or triggered without one), which the first cannot cover.

    None under ``airflow dags test``: there, Airflow 3.3.2 fails every run of a DAG with a deadline as it
    succeeds (``DAG.test`` keeps the alerts' definitions where the scheduler's DAG has their database ids, and
    pruning the unmet deadline looks them up by id: "'dict' object has no attribute 'hex'"). A deadline only
    matters to a scheduler, which ``dags test`` does not run.
    """
    if sys.argv[1:3] == ["dags", "test"]:
        return None
    return [
        _alert(DeadlineReference.DAGRUN_LOGICAL_DATE, deadline.LOGICAL_DATE, "bank_marketing_late_run"),
        _alert(DeadlineReference.DAGRUN_QUEUED_AT, deadline.QUEUED_AT, "bank_marketing_late_run_without_logical_date"),
    ]


def _alert(reference: Any, reference_name: str, name: str) -> DeadlineAlert:
    """One deadline of ``config.DEADLINE_HOURS`` after ``reference``, alerting through ``alert_late_run``."""
    callback = SyncCallback(alert_late_run, kwargs={"reference": reference_name})
    interval = timedelta(hours=config.DEADLINE_HOURS)
    # Airflow 3.3 names each alert (the UI shows it); 3.2's DeadlineAlert takes no name (README "Supported versions").
    if "name" in inspect.signature(DeadlineAlert).parameters:
        return DeadlineAlert(reference=reference, interval=interval, callback=callback, name=name)
    return DeadlineAlert(reference=reference, interval=interval, callback=callback)


def _api() -> tuple[str, dict[str, str]]:
    """Base URL of the REST API and the headers of an authenticated request, from the ``airflow_api``
    connection."""
    import requests
    from airflow.sdk import Connection

    conn = Connection.get(API_CONN_ID)
    host = (conn.host or "").rstrip("/")
    base = host if "://" in host else f"{conn.schema or 'http'}://{host}"
    if conn.port:
        base = f"{base}:{conn.port}"
    headers: dict[str, str] = {}
    if conn.login:
        reply = requests.post(
            f"{base}/auth/token",
            json={"username": conn.login, "password": conn.password},
            timeout=REQUEST_TIMEOUT,
        )
        reply.raise_for_status()
        headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return base, headers


def _task_instances(dag_id: str, run_id: str) -> list[dict[str, Any]]:
    import requests

    base, headers = _api()
    reply = requests.get(
        f"{base}/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances",
        params={"limit": 100},
        headers=headers,
        timeout=REQUEST_TIMEOUT,
    )
    reply.raise_for_status()
    return reply.json()["task_instances"]


def alert_late_run(context: dict[str, Any], reference: str = deadline.LOGICAL_DATE, **_: Any) -> None:
    """Deadline callback: an SNS alert naming the late run and the tasks it is stuck in.

    ``context`` is what Airflow passes deadline callbacks: ``dag_run`` (the REST API's view of the run,
    its conf included) and ``deadline`` (``deadline_time``); ``reference`` says which deadline was missed.
    """
    run, due = context["dag_run"], context["deadline"]["deadline_time"]
    if (why := deadline.why_no_alert(run, due, reference)) is not None:
        log.info("Run %s missed its deadline %s; no alert: %s", run["dag_run_id"], due, why)
        return
    stuck: list[str] | None
    why_unknown = None
    try:
        stuck = deadline.stuck_tasks(_task_instances(run["dag_id"], run["dag_run_id"]))
    except Exception as exc:  # the alert matters more than its detail: send it without the task
        stuck, why_unknown = None, f"could not read the run's tasks through the {API_CONN_ID!r} connection: {exc}"
        log.warning("%s", why_unknown)
    subject, message = notification.late_run(run["dag_id"], run["dag_run_id"], str(due), stuck, why_unknown)
    topic = (run.get("conf") or {}).get("sns_topic_arn") or config.DEFAULT_TOPIC_ARN
    publish_sns(topic, subject, message)
