"""Bad input, end to end: a few of the bad files fail the run at validate with their own reason, alerted (task
alert and run alert) and quarantined, and no training task runs. Every case is checked at unit level against
validate_object in tests/unit/test_bad_inputs.py; these show the DAG wiring around it.
"""

from __future__ import annotations

import json

import pytest

from include.bank_marketing import storage
from tests.support.bad_inputs import BAD_INPUTS, body_of

pytestmark = pytest.mark.e2e

# A file with nothing in it, a parse failure naming its line, and bytes that are not text.
E2E_CASES = ("empty", "numeric_text", "non_utf8")


@pytest.mark.parametrize("case", E2E_CASES)
def test_bad_input_fails_at_validate_with_its_reason(aws, run_dag, case):
    body, reason = body_of(case), BAD_INPUTS[case][1]
    bucket = f"bad-{case.replace('_', '-')}"
    aws.create_bucket(bucket)
    aws.upload(bucket, "banking.csv", body)
    aws.messages(aws.queue_url)

    result = run_dag("bank_marketing_training", {"bucket": bucket})

    assert result.state == "failed", result.states()
    # The sensor passed; validate failed at once (bad data: no retry); nothing downstream of it ran.
    assert (result.state_of("wait_for_data"), result.state_of("validate"), result.tries("validate")) == (
        "success",
        "failed",
        1,
    )
    for task in ("preprocess", "check_drift", "train", "evaluate", "publish", "notify"):
        assert not result.ran(task), f"{task} ran after validate failed"
        assert {r.state for r in result.of(task)} == {"upstream_failed"}, result.states()

    s3 = aws.client("s3")
    keys = storage.list_keys(s3, bucket)
    assert not [k for k in keys if k.startswith("runs/")], "nothing may be written for a rejected input"
    rejected = [k for k in keys if k.startswith("rejected/")]
    reason_doc = json.loads(
        s3.get_object(Bucket=bucket, Key=next(k for k in rejected if k.endswith("reason.json")))["Body"].read()
    )
    assert reason in reason_doc["reason"]
    copy = next(k for k in rejected if k.endswith("/banking.csv"))
    assert s3.get_object(Bucket=bucket, Key=copy)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="banking.csv")["Body"].read() == body  # original untouched

    messages = aws.messages(aws.queue_url)
    task_alerts = [m for m in messages if m["subject"].startswith("[bank-ml] FAILED validate")]
    assert len(task_alerts) == 1, messages
    assert reason in task_alerts[0]["message"]
    run_alerts = [m for m in messages if m["subject"].startswith("[bank-ml] RUN FAILED")]
    assert len(run_alerts) == 1 and "validate" in run_alerts[0]["message"], messages
