"""The deadline alert's rules: whether a late run is worth an alert, and which tasks it is stuck in.

Airflow computes each run's deadline (``DeadlineAlert`` on the DAG: logical date + ``config.DEADLINE_HOURS``;
with the DAG's trigger timetable the logical date is the end of the data interval) and calls the DAG's
callback when a run misses it. The callback (``dags/bank_marketing_common/deadline.py``) reads the run's task
instances from Airflow's REST API and applies these rules. No Airflow imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# Task states of a run that is still going: the tasks a late run is "stuck in".
ACTIVE_STATES = (
    "running",
    "queued",
    "scheduled",
    "up_for_reschedule",
    "up_for_retry",
    "deferred",
    "awaiting_input",
    "restarting",
)
FINISHED_RUN_STATES = ("success", "failed")
# What a deadline counts from: the run's logical date, or (runs without one) when it was queued.
LOGICAL_DATE = "logical_date"
QUEUED_AT = "queued_at"


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def why_no_alert(run: Mapping[str, Any], deadline: Any, reference: str = LOGICAL_DATE) -> str | None:
    """Why a run that missed its deadline gets no alert, or None when it gets one.

    ``run`` is the DAG run as Airflow's REST API shows it; ``reference`` is what the deadline counts from. A
    run that already finished is not late. A run created after its deadline had passed (a backfill, or a
    manual re-run of an old date: their data intervals ended long ago) was never going to meet it, so an alert
    would be noise, not news. The queued-time deadline is for runs without a logical date only: a run with
    one has the logical-date deadline, and one alert per run is enough.
    """
    if run.get("state") in FINISHED_RUN_STATES:
        return f"the run is {run['state']}"
    if reference == QUEUED_AT and run.get("logical_date"):
        return "the run has a logical date: its logical-date deadline covers it"
    created, due = _instant(run.get("queued_at") or run.get("start_date")), _instant(deadline)
    if created is not None and due is not None and created >= due:
        return f"the run was created at {created.isoformat()}, after its deadline {due.isoformat()}"
    return None


def stuck_tasks(task_instances: Sequence[Mapping[str, Any]]) -> list[str]:
    """``task_id[map_index] (state)`` of each task instance still active, in the API's order."""
    stuck = []
    for ti in task_instances:
        if ti.get("state") in ACTIVE_STATES:
            index = ti.get("map_index", -1)
            name = f"{ti['task_id']}[{index}]" if index is not None and index >= 0 else ti["task_id"]
            stuck.append(f"{name} ({ti['state']})")
    return stuck
