"""A person signs off each promotion: runs with ``approval=required`` under a real scheduler (the session's
shared ``airflow standalone``), answered through the REST API as the UI does, and a run held past its deadline.

Two rounds, each filling the DAG's run slots (``max_active_runs=3``) with runs that wait side by side:

1. Three runs waiting for approval at once. Two on the same data: the newer is approved and promoted first;
   approving the older afterwards must not move the champion pointer back (the rule is re-checked at
   promotion time). The third is rejected with a comment: the champion is kept, and who, when and why go to
   the history, the report and the SNS message.
2. A run left unanswered past a 5 s ``approval_timeout``: the champion is kept, and it says so. Beside it, a
   run whose sensor waits for a file that never comes, past its deadline: the deadline alert names the run
   and the task it is stuck in.

The browser side (the Required Actions page, clicking Approve) is in test_trigger_form.py. The runs train
logistic regression on the stratified sample: what is checked is the gate, not the model.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from include.bank_marketing import config, storage
from include.bank_marketing.layout import CHAMPION_KEY, history_key
from tests.support import data

# Runs on the worker of the shared airflow standalone (tests/conftest.py XDIST_GROUPS).
pytestmark = pytest.mark.e2e

DAG = "bank_marketing_training"
TOPIC = "approval-alerts"
GATE = "approve"
WAITING = "awaiting_input"
# Seconds between a request appearing and its answer, as a person reading it takes at least. (An answer that
# lands before the scheduler has processed the parked try's end costs a retry on Airflow 3.3.2, and the gate
# then resumes with that answer: RELIABILITY.md.)
READING_S = 1
REQUIRED = {
    "approval": "required",
    "model_families": ["logistic_regression"],
    "cv_folds": 2,
    "wait_timeout_seconds": 60,
}


@pytest.fixture(scope="module")
def gate(airflow_server, aws):
    """The shared scheduler, with this module's topic (and its SQS inbox)."""
    airflow_server.approval_topic_arn, airflow_server.approval_queue_url = aws.create_topic_with_queue(TOPIC)
    return airflow_server


def _trigger(api, bucket: str, logical_date: str | None = None, **conf) -> str:
    body = {
        "logical_date": logical_date,
        "conf": {"bucket": bucket, "sns_topic_arn": api.approval_topic_arn, **REQUIRED, **conf},
    }
    return api.send("POST", f"/dags/{DAG}/dagRuns", body)["dag_run_id"]


def _answer(api, run_id: str, option: str, comment: str) -> dict:
    """Answer the run's approval request through the REST API, as the UI's buttons do, and wait until the
    gate has taken the answer. If Airflow lost it (the gate was retried and asks again: RELIABILITY.md), answer
    the new request, as a person would on the second SNS message; twice at most."""
    for _ in range(3):
        time.sleep(READING_S)
        asked_try = api.task_instance(run_id, GATE)["try_number"]
        answer = api.answer(run_id, GATE, option, comment)
        if api.answer_taken(run_id, GATE, asked_try):
            return answer
    raise AssertionError(f"{run_id}: three answers lost")


def _history(s3, bucket: str, run_id: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=history_key(run_id))["Body"].read())


def _report(s3, bucket: str, run_id: str) -> str:
    key = f"runs/{run_id.replace('+', '_')}/report.html"
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


@pytest.fixture(scope="module")
def three_waiting(gate, aws):
    """Round 1: three runs waiting for approval at once; ``rejected`` is rejected, ``newer`` approved and
    promoted, then ``older`` approved."""
    pair, other = "approval-pair", "approval-no"
    for bucket in (pair, other):
        aws.create_bucket(bucket)
        aws.upload(bucket, config.DEFAULT_INPUT_KEY, data.sample_csv())
    aws.messages(gate.approval_queue_url)  # an empty inbox
    older, newer, rejected = _trigger(gate, pair), _trigger(gate, pair), _trigger(gate, other)
    started = time.monotonic()
    for run_id in (older, newer, rejected):
        gate.wait_for_task(run_id, GATE, WAITING)
    waited_s = time.monotonic() - started
    s3 = aws.client("s3")
    request = gate.get(gate.hitl_path(older, GATE))
    preview = _report(s3, pair, older)
    asked = aws.messages(gate.approval_queue_url)

    rejection = _answer(gate, rejected, "Reject", "Not before the audit")
    _answer(gate, newer, "Approve", "newer first")
    gate.wait_for_task(newer, "promote", "success")
    champion_after_newer = json.loads(s3.get_object(Bucket=pair, Key=CHAMPION_KEY)["Body"].read())
    _answer(gate, older, "Approve", "older, approved late")
    runs = gate.wait_for_runs([older, newer, rejected])
    print(
        f"\nthree runs waiting for approval {waited_s:.0f} s after their trigger; "
        f"all done in {time.monotonic() - started:.0f} s"
    )
    return {
        "pair": pair,
        "other": other,
        "older": older,
        "newer": newer,
        "rejected": rejected,
        "rejection": rejection,
        "runs": runs,
        "request": request,
        "preview": preview,
        "asked": asked,
        "champion_after_newer": champion_after_newer,
        "messages": aws.messages(gate.approval_queue_url),
    }


def _final(messages: list[dict], run_id: str) -> dict:
    """The run's report message (not its approval request)."""
    [final] = [m for m in messages if run_id in m["message"] and "APPROVAL NEEDED" not in m["subject"]]
    return final


def test_a_waiting_run_shows_the_approver_verdict_metrics_drift_and_report(three_waiting):
    request = three_waiting["request"]
    assert request["options"] == ["Approve", "Reject"] and request["defaults"] == ["Reject"]
    assert request["subject"].startswith("Promote logistic_regression (AUC ")
    body = request["body"]
    assert "**Verdict: PASS.**" in body
    for title in config.METRIC_TITLES.values():
        assert f"| {title} | " in body, f"{title} missing from the request"
    assert "**Drift**" in body and "[report.html](" in body
    assert "no champion (this would be the first)" in body
    # The report the request links to exists while the run waits, and says so.
    assert "Awaiting approval" in three_waiting["preview"]


def test_each_waiting_run_sends_an_sns_message_with_the_link_to_decide(three_waiting, gate):
    asked = [m for m in three_waiting["asked"] if m["subject"].startswith("[bank-ml] APPROVAL NEEDED")]
    assert len(asked) == 3, three_waiting["asked"]
    for run_id in (three_waiting["older"], three_waiting["newer"], three_waiting["rejected"]):
        link = f"{gate.root}/dags/{DAG}/runs/{run_id}/tasks/{GATE}/required_actions"
        assert any(link in m["message"] for m in asked), f"no link for {run_id}"


def test_approve_through_the_rest_api_promotes(three_waiting, aws):
    newer = three_waiting["newer"]
    assert three_waiting["runs"][newer]["state"] == "success"
    assert three_waiting["champion_after_newer"]["run_id"] == newer
    history = _history(aws.client("s3"), three_waiting["pair"], newer)
    assert history["decision"] == "promoted"
    assert history["approval"]["outcome"] == "approved"
    assert history["approval"]["comment"] == "newer first"
    assert history["approval"]["responded_by"]  # the API's user, as the UI would record a person
    final = _final(three_waiting["messages"], newer)
    assert final["subject"].endswith(", promoted")
    assert "Approval: APPROVED by " in final["message"]


def test_approving_the_older_run_after_the_newer_was_promoted_keeps_the_newer(three_waiting, aws, gate):
    older, newer, bucket = three_waiting["older"], three_waiting["newer"], three_waiting["pair"]
    assert three_waiting["runs"][older]["state"] == "success"
    s3 = aws.client("s3")
    assert json.loads(s3.get_object(Bucket=bucket, Key=CHAMPION_KEY)["Body"].read())["run_id"] == newer
    history = _history(s3, bucket, older)
    assert history["decision"] == "kept_champion"
    assert history["approval"]["outcome"] == "approved"
    assert history["champion_run_id"] == newer
    assert "< champion" in history["reason"]  # re-decided against the newer champion, on the older run's rows
    assert gate.task_instance(older, "promote")["state"] == "success"  # approved: promote ran, and declined


def test_reject_keeps_the_champion_and_records_why_in_history_report_and_sns(three_waiting, aws, gate):
    run_id, bucket = three_waiting["rejected"], three_waiting["other"]
    assert three_waiting["runs"][run_id]["state"] == "success"
    assert gate.task_instance(run_id, "promote")["state"] == "skipped"
    assert gate.task_instance(run_id, "keep_champion")["state"] == "success"
    s3 = aws.client("s3")
    assert not s3.list_objects_v2(Bucket=bucket, Prefix=CHAMPION_KEY).get("Contents"), "a rejected model promoted"
    history = _history(s3, bucket, run_id)
    who = three_waiting["rejection"]["responded_by"]["name"]
    assert history["decision"] == "kept_champion"
    assert history["approval"]["outcome"] == "rejected"
    assert history["approval"]["comment"] == "Not before the audit"
    assert history["approval"]["responded_by"].startswith(who) and history["approval"]["responded_at"]
    assert history["reason"].startswith(f"rejected by {who}") and "Not before the audit" in history["reason"]
    report = _report(s3, bucket, run_id)
    assert "Not before the audit" in report and "REJECTED" in report
    final = _final(three_waiting["messages"], run_id)
    assert final["subject"].endswith("rejected, champion kept")
    assert "Not before the audit" in final["message"]


@pytest.fixture(scope="module")
def timed_out_and_late(three_waiting, gate, aws):
    """Round 2: a run left unanswered past a 5 s approval timeout, and beside it a run whose sensor waits for
    a file that never comes, past its deadline (logical date, the end of its data interval, + 6 h falls 10 s
    after the trigger), with a topic of its own; that run is ended (marked failed) once its alert is in."""
    bucket, late_bucket = "approval-timeout", "approval-late"
    aws.create_bucket(bucket)
    aws.upload(bucket, config.DEFAULT_INPUT_KEY, data.sample_csv())
    aws.create_bucket(late_bucket)
    late_topic, late_queue = aws.create_topic_with_queue("approval-late-alerts")
    aws.messages(gate.approval_queue_url)
    logical = datetime.now(UTC) - timedelta(hours=config.DEADLINE_HOURS) + timedelta(seconds=10)
    late = _trigger(gate, late_bucket, logical.isoformat(), wait_timeout_seconds=300, sns_topic_arn=late_topic)
    timed_out = _trigger(gate, bucket, approval_timeout=5)
    started = time.monotonic()
    alerts: list[dict] = []
    try:
        while not alerts:
            assert time.monotonic() - started < 120, "no deadline alert within 110 s of the deadline"
            alerts = [m for m in aws.messages(late_queue) if m["subject"].startswith("[bank-ml] LATE")]
            time.sleep(0 if alerts else 1)
        print(f"\ndeadline alert {time.monotonic() - started:.0f} s after the trigger (deadline at 10 s)")
    finally:  # the run has done its part: end it, so it holds no run slot of the shared scheduler
        gate.send("PATCH", f"/dags/{DAG}/dagRuns/{quote(late)}", {"state": "failed"})
    runs = gate.wait_for_runs([timed_out])
    return {
        "bucket": bucket,
        "timed_out": timed_out,
        "late": late,
        "alerts": alerts,
        "runs": runs,
        "messages": aws.messages(gate.approval_queue_url),
    }


def test_no_answer_within_the_approval_timeout_keeps_the_champion_and_says_so(timed_out_and_late, aws, gate):
    case = timed_out_and_late
    run_id = case["timed_out"]
    assert case["runs"][run_id]["state"] == "success"
    assert gate.task_instance(run_id, "keep_champion")["state"] == "success"
    history = _history(aws.client("s3"), case["bucket"], run_id)
    assert history["decision"] == "kept_champion"
    assert history["approval"]["outcome"] == "timed_out"
    assert history["approval"]["responded_by"] is None
    assert "no answer within the approval timeout of 5 s" in history["reason"]
    final = _final(case["messages"], run_id)
    assert final["subject"].endswith("no approval, champion kept")
    assert "TIMED OUT" in final["message"]


def test_a_run_held_past_its_deadline_alerts_naming_the_task_it_is_stuck_in(timed_out_and_late):
    [alert] = timed_out_and_late["alerts"]
    assert timed_out_and_late["late"] in alert["message"]
    stuck = r"Stuck in: wait_for_data \((queued|running|deferred|scheduled)\)"
    assert re.search(stuck, alert["message"]), alert
    assert "wait_for_data" in alert["subject"]


def test_history_lines_are_one_per_run(three_waiting, timed_out_and_late, aws):
    s3 = aws.client("s3")
    expected = {
        three_waiting["pair"]: (three_waiting["older"], three_waiting["newer"]),
        three_waiting["other"]: (three_waiting["rejected"],),
        timed_out_and_late["bucket"]: (timed_out_and_late["timed_out"],),
    }
    for bucket, run_ids in expected.items():
        assert sorted(storage.list_keys(s3, bucket, "models/history/")) == sorted(history_key(r) for r in run_ids)
