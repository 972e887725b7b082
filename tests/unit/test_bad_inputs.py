"""Every bad input of tests/support/bad_inputs.py through validate_object, on moto's in-process S3: rejected
with its own one-line reason, copied unchanged to ``rejected/{run_id}/`` beside a ``reason.json``, the original
left as it was, nothing written under ``runs/``. (Three of them also run end to end: tests/e2e/test_bad_inputs.py.)
"""

from __future__ import annotations

import hashlib
import json

import pytest

from include.bank_marketing import validation
from include.bank_marketing.context import RunContext
from tests.support.bad_inputs import BAD_INPUTS, body_of
from tests.support.builders import BUCKET, RUN_ID, SAFE_RUN_ID, all_keys, get_body

KEY = "banking.csv"  # where the DAG reads by default


def validate(s3, key: str) -> None:
    """validate_object as the DAG's validate task calls it (default 3 CV folds)."""
    validation.validate_object(RunContext(s3=s3, bucket=BUCKET, run_id=RUN_ID), key, 3)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_rejected_with_its_reason_and_quarantined(s3, case):
    body, reason = body_of(case), BAD_INPUTS[case][1]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)

    with pytest.raises(validation.InputError) as info:
        validate(s3, KEY)

    message = str(info.value)
    assert message.startswith(f"s3://{BUCKET}/{KEY}: ") and "\n" not in message, message
    assert reason in message
    prefix = f"rejected/{SAFE_RUN_ID}"
    # The copy and its reason, and nothing else: no runs/ key for a rejected input.
    assert all_keys(s3) == sorted([KEY, f"{prefix}/banking.csv", f"{prefix}/reason.json"])
    assert get_body(s3, f"{prefix}/banking.csv") == body
    assert get_body(s3, KEY) == body  # the original is left as it was
    doc = json.loads(get_body(s3, f"{prefix}/reason.json"))
    assert doc["reason"] == message
    assert (doc["input_uri"], doc["run_id"]) == (f"s3://{BUCKET}/{KEY}", RUN_ID)
    assert (doc["sha256"], doc["bytes"]) == (hashlib.sha256(body).hexdigest(), len(body))
