"""Bad input, end to end: each file fails at validate with its own reason, alerted and quarantined."""

from __future__ import annotations

import json

import pytest

from include.bank_marketing import storage
from scripts import local_aws

pytestmark = pytest.mark.e2e

DATA = local_aws.DATA_FILE.read_bytes()
HEADER = DATA.split(b"\n", 1)[0]
ROWS = DATA.split(b"\n")[1:200]
BAD_INPUTS = {
    "empty": (b"", "file is empty (0 bytes)"),
    "header_only": (HEADER + b"\n", "no data rows: the file has only a header"),
    "no_y": (
        HEADER.replace(b";y", b";subscribed") + b"\n" + b"\n".join(ROWS),
        "no target column 'y'",
    ),
    "one_class": (
        HEADER + b"\n" + b"\n".join(r for r in ROWS if r.endswith(b";no")),
        "one class only",
    ),
    "wrong_delimiter": (
        b"\n".join(line.replace(b";", b"|") for line in [HEADER, *ROWS]),
        "cannot detect the delimiter",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_at_validate_with_its_reason(aws, airflow_env, case):
    body, reason = BAD_INPUTS[case]
    bucket = f"bad-{case.replace('_', '-')}"
    aws.create_bucket(bucket)
    aws.upload(bucket, "banking.csv", body)
    aws.messages(aws.queue_url)

    result = local_aws.dags_test(airflow_env, {"bucket": bucket})
    out = result.stdout + result.stderr
    assert "state=failed" in out, out[-3000:]

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
    assert any(m["subject"].startswith("[bank-ml] RUN FAILED") and "validate" in m["message"] for m in messages)
    # The sensor passed and validation failed: the training tasks never ran.
    assert "task_id=train" not in out
