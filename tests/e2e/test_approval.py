"""A person signs off each promotion: runs with ``approval=required`` under a real scheduler (the session's
shared ``airflow standalone``), answered through the REST API as the UI does, and a run held past its deadline.

- Two runs waiting at once on the same data: the newer is approved and promoted first; approving the older
  afterwards must not move the champion pointer back (the rule is re-checked at promotion time).
- A rejection keeps the champion and records who, when and why in the history, the report and the SNS message.
- No answer within ``approval_timeout`` (5 s here) keeps the champion, and says so.
- A run still waiting for its file past its deadline sends the deadline alert, naming the task it is stuck in.

The browser side (the Required Actions page, clicking Approve) is in test_trigger_form.py. The runs train
logistic regression on the stratified sample: what is checked is the gate, not the model.
"""

from __future__ import annotations

import json
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
READING_S = 2
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


def _task(api, run_id: str, task_id: str) -> dict:
    [ti] = [t for t in api.task_instances(run_id) if t["task_id"] == task_id]
    return ti


def _wait_for_task(api, run_id: str, task_id: str, state: str, timeout: float = 300) -> dict:
    """The task instance once it is in ``state``; fails early when the run ends first."""
    deadline = time.monotonic() + timeout
    while True:
        ti = _task(api, run_id, task_id)
        if ti["state"] == state:
            return ti
        run = api.get(f"/dags/{DAG}/dagRuns/{quote(run_id)}")
        assert run["state"] not in ("success", "failed"), f"{run_id} ended {run['state']}; {task_id} is {ti['state']}"
        assert time.monotonic() < deadline, f"{run_id}: {task_id} not {state} in {timeout} s (it is {ti['state']})"
        time.sleep(1)


def _hitl(api, run_id: str) -> str:
    return f"/dags/{DAG}/dagRuns/{quote(run_id)}/taskInstances/{GATE}/-1/hitlDetails"


def _answer(api, run_id: str, option: str, comment: str) -> dict:
    """Answer the run's approval request through the REST API, as the UI's buttons do."""
    time.sleep(READING_S)
    return api.send("PATCH", _hitl(api, run_id), {"chosen_options": [option], "params_input": {"comment": comment}})


def _history(s3, bucket: str, run_id: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=history_key(run_id))["Body"].read())


def _report(s3, bucket: str, run_id: str) -> str:
    key = f"runs/{run_id.replace('+', '_')}/report.html"
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


@pytest.fixture(scope="module")
def two_waiting(gate, aws):
    """Two runs of the same data waiting for approval at once; the newer approved first, then the older."""
    bucket = "approval-pair"
    aws.create_bucket(bucket)
    aws.upload(bucket, config.DEFAULT_INPUT_KEY, data.sample_csv())
    aws.messages(gate.approval_queue_url)  # an empty inbox
    older = _trigger(gate, bucket)
    newer = _trigger(gate, bucket)
    started = time.monotonic()
    for run_id in (older, newer):
        _wait_for_task(gate, run_id, GATE, WAITING)
    waited_s = time.monotonic() - started
    s3 = aws.client("s3")
    request = gate.get(_hitl(gate, older))
    preview = _report(s3, bucket, older)
    asked = aws.messages(gate.approval_queue_url)

    _answer(gate, newer, "Approve", "newer first")
    runs = gate.wait_for_runs([newer])
    champion_after_newer = json.loads(s3.get_object(Bucket=bucket, Key=CHAMPION_KEY)["Body"].read())
    _answer(gate, older, "Approve", "older, approved late")
    runs |= gate.wait_for_runs([older])
    print(
        f"\ntwo runs waiting for approval after {waited_s:.0f} s; both finished {time.monotonic() - started:.0f} s in"
    )
    return {
        "bucket": bucket,
        "older": older,
        "newer": newer,
        "runs": runs,
        "request": request,
        "preview": preview,
        "asked": asked,
        "champion_after_newer": champion_after_newer,
        "messages": aws.messages(gate.approval_queue_url),
    }


def test_a_waiting_run_shows_the_approver_verdict_metrics_drift_and_report(two_waiting):
    request = two_waiting["request"]
    assert request["options"] == ["Approve", "Reject"] and request["defaults"] == ["Reject"]
    assert request["subject"].startswith("Promote logistic_regression (AUC ")
    body = request["body"]
    assert "**Verdict: PASS.**" in body
    for title in config.METRIC_TITLES.values():
        assert f"| {title} | " in body, f"{title} missing from the request"
    assert "**Drift**" in body and "[report.html](" in body
    assert "no champion (this would be the first)" in body
    # The report the request links to exists while the run waits, and says so.
    assert "Awaiting approval" in two_waiting["preview"]


def test_each_waiting_run_sends_an_sns_message_with_the_link_to_decide(two_waiting, gate):
    asked = [m for m in two_waiting["asked"] if m["subject"].startswith("[bank-ml] APPROVAL NEEDED")]
    assert len(asked) == 2, two_waiting["asked"]
    for run_id in (two_waiting["older"], two_waiting["newer"]):
        link = f"{gate.root}/dags/{DAG}/runs/{run_id}/tasks/{GATE}/required_actions"
        assert any(link in m["message"] for m in asked), f"no link for {run_id}"


def test_approve_through_the_rest_api_promotes(two_waiting, aws):
    newer, bucket = two_waiting["newer"], two_waiting["bucket"]
    assert two_waiting["runs"][newer]["state"] == "success"
    assert two_waiting["champion_after_newer"]["run_id"] == newer
    history = _history(aws.client("s3"), bucket, newer)
    assert history["decision"] == "promoted"
    assert history["approval"]["outcome"] == "approved"
    assert history["approval"]["comment"] == "newer first"
    assert history["approval"]["responded_by"]  # the API's user, as the UI would record a person
    [final] = [m for m in two_waiting["messages"] if newer in m["message"]]
    assert final["subject"].endswith(", promoted")
    assert "Approval: APPROVED by " in final["message"]


def test_approving_the_older_run_after_the_newer_was_promoted_keeps_the_newer(two_waiting, aws, gate):
    older, newer, bucket = two_waiting["older"], two_waiting["newer"], two_waiting["bucket"]
    assert two_waiting["runs"][older]["state"] == "success"
    s3 = aws.client("s3")
    assert json.loads(s3.get_object(Bucket=bucket, Key=CHAMPION_KEY)["Body"].read())["run_id"] == newer
    history = _history(s3, bucket, older)
    assert history["decision"] == "kept_champion"
    assert history["approval"]["outcome"] == "approved"
    assert history["champion_run_id"] == newer
    assert "< champion" in history["reason"]  # re-decided against the newer champion, on the older run's rows
    assert _task(gate, older, "promote")["state"] == "success"  # approved: promote ran, and declined


@pytest.fixture(scope="module")
def rejected_and_timed_out(gate, aws):
    """One run rejected with a comment, one left unanswered past a 5 s approval timeout; both would have
    been the bucket's first champion."""
    bucket = "approval-no"
    aws.create_bucket(bucket)
    aws.upload(bucket, config.DEFAULT_INPUT_KEY, data.sample_csv())
    aws.messages(gate.approval_queue_url)
    rejected = _trigger(gate, bucket)
    timed_out = _trigger(gate, bucket, approval_timeout=5)
    _wait_for_task(gate, rejected, GATE, WAITING)
    answer = _answer(gate, rejected, "Reject", "Not before the audit")
    runs = gate.wait_for_runs([rejected, timed_out])
    return {
        "bucket": bucket,
        "rejected": rejected,
        "timed_out": timed_out,
        "answer": answer,
        "runs": runs,
        "messages": aws.messages(gate.approval_queue_url),
    }


def test_reject_keeps_the_champion_and_records_why_in_history_report_and_sns(rejected_and_timed_out, aws, gate):
    case = rejected_and_timed_out
    run_id, bucket = case["rejected"], case["bucket"]
    assert case["runs"][run_id]["state"] == "success"
    assert _task(gate, run_id, "promote")["state"] == "skipped"
    assert _task(gate, run_id, "keep_champion")["state"] == "success"
    s3 = aws.client("s3")
    assert not s3.list_objects_v2(Bucket=bucket, Prefix=CHAMPION_KEY).get("Contents"), "a rejected model promoted"
    history = _history(s3, bucket, run_id)
    who = case["answer"]["responded_by"]["name"]
    assert history["decision"] == "kept_champion"
    assert history["approval"]["outcome"] == "rejected"
    assert history["approval"]["comment"] == "Not before the audit"
    assert history["approval"]["responded_by"].startswith(who) and history["approval"]["responded_at"]
    assert history["reason"].startswith(f"rejected by {who}") and "Not before the audit" in history["reason"]
    report = _report(s3, bucket, run_id)
    assert "Not before the audit" in report and "REJECTED" in report
    [final] = [m for m in case["messages"] if run_id in m["message"] and "APPROVAL NEEDED" not in m["subject"]]
    assert final["subject"].endswith("rejected, champion kept")
    assert "Not before the audit" in final["message"]


def test_no_answer_within_the_approval_timeout_keeps_the_champion_and_says_so(rejected_and_timed_out, aws, gate):
    case = rejected_and_timed_out
    run_id = case["timed_out"]
    assert case["runs"][run_id]["state"] == "success"
    assert _task(gate, run_id, "keep_champion")["state"] == "success"
    history = _history(aws.client("s3"), case["bucket"], run_id)
    assert history["decision"] == "kept_champion"
    assert history["approval"]["outcome"] == "timed_out"
    assert history["approval"]["responded_by"] is None
    assert "no answer within the approval timeout of 5 s" in history["reason"]
    [final] = [m for m in case["messages"] if run_id in m["message"] and "APPROVAL NEEDED" not in m["subject"]]
    assert final["subject"].endswith("no approval, champion kept")
    assert "TIMED OUT" in final["message"]


def test_a_run_held_past_its_deadline_alerts_naming_the_task_it_is_stuck_in(gate, aws):
    """The deadline is the logical date (the end of the data interval) + 6 h: a run whose interval ended
    6 h less 20 s ago meets it 20 s after it starts, while its sensor waits for a file that never comes."""
    bucket = "approval-late"
    aws.create_bucket(bucket)
    aws.messages(gate.approval_queue_url)
    logical = datetime.now(UTC) - timedelta(hours=config.DEADLINE_HOURS) + timedelta(seconds=20)
    run_id = _trigger(gate, bucket, logical_date=logical.isoformat(), wait_timeout_seconds=120)
    try:
        deadline = time.monotonic() + 120
        late: list[dict] = []
        while not late:
            assert time.monotonic() < deadline, "no deadline alert within 100 s of the deadline"
            time.sleep(2)
            late = [m for m in aws.messages(gate.approval_queue_url) if m["subject"].startswith("[bank-ml] LATE")]
    finally:  # the run has done its part: end it, so it holds no run slot of the shared scheduler
        gate.send("PATCH", f"/dags/{DAG}/dagRuns/{quote(run_id)}", {"state": "failed"})
    [alert] = late
    assert run_id in alert["message"]
    assert "wait_for_data (up_for_reschedule)" in alert["message"] or "wait_for_data (running)" in alert["message"]
    assert "wait_for_data" in alert["subject"]


def test_history_lines_of_this_module_are_one_per_run(two_waiting, rejected_and_timed_out, aws):
    s3 = aws.client("s3")
    for case, keys in ((two_waiting, ("older", "newer")), (rejected_and_timed_out, ("rejected", "timed_out"))):
        lines = storage.list_keys(s3, case["bucket"], "models/history/")
        assert sorted(lines) == sorted(history_key(case[k]) for k in keys)
