"""Faults, end to end against the local server: a missing input, an S3 outage, SNS refusing to publish."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from include.bank_marketing import storage
from include.bank_marketing.layout import CHAMPION_KEY
from scripts import local_aws

pytestmark = pytest.mark.e2e

DATA = local_aws.DATA_FILE.read_bytes()
FAST = {"model_families": ["logistic_regression"]}  # the fault matters here, not the model


def _body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_a_file_that_never_arrives_times_out_and_alerts(aws, airflow_env):
    bucket = "no-file"
    aws.create_bucket(bucket)
    aws.messages(aws.queue_url)
    conf = {"bucket": bucket, "input_key": "raw/{{ ds }}/banking.csv", "wait_timeout_seconds": 10}

    started = time.monotonic()
    result = local_aws.dags_test(airflow_env, conf, "2026-11-21")
    elapsed = time.monotonic() - started
    out = result.stdout + result.stderr

    assert "state=failed" in out, out[-3000:]
    assert elapsed < 120, "the sensor must give up at its timeout, not hang"
    messages = aws.messages(aws.queue_url)
    alert = next(m for m in messages if m["subject"].startswith("[bank-ml] FAILED wait_for_data"))
    assert "timed out" in alert["message"].lower()
    assert any(m["subject"].startswith("[bank-ml] RUN FAILED") for m in messages)
    assert storage.list_keys(aws.client("s3"), bucket) == []  # nothing written, nothing quarantined


def test_sns_failure_retries_and_leaves_the_artifacts_whole(aws, airflow_env):
    bucket = "sns-down"
    aws.create_bucket(bucket)
    aws.upload(bucket, "banking.csv", DATA)
    missing_topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic"

    result = local_aws.dags_test(airflow_env, {"bucket": bucket, "sns_topic_arn": missing_topic, **FAST})
    out = result.stdout + result.stderr

    assert "state=failed" in out, out[-3000:]
    assert out.count("[DAG TEST] starting task_id=notify") == 3  # first try and both retries
    s3 = aws.client("s3")
    prefix = aws.latest_run_prefix(bucket)
    meta = json.loads(_body(s3, bucket, f"{prefix}/model.json"))
    assert meta["sha256"] == hashlib.sha256(_body(s3, bucket, f"{prefix}/model.joblib")).hexdigest()
    champion = json.loads(_body(s3, bucket, CHAMPION_KEY))
    assert champion["sha256"] == meta["sha256"] and champion["model_uri"] == meta["model_uri"]
    assert len(_body(s3, bucket, f"{prefix}/new.csv").splitlines()) == 9043 + 1


def test_s3_outage_mid_run_is_retried_and_the_run_completes(aws, airflow_env):
    bucket = "s3-outage"
    aws.create_bucket(bucket)
    aws.upload(bucket, "banking.csv", DATA)
    s3 = aws.client("s3")
    run = local_aws.dags_test_async(airflow_env, {"bucket": bucket, "model_families": ["hist_gradient_boosting"]})
    try:
        deadline = time.monotonic() + 120
        while not any(k.endswith("data/train.parquet") for k in storage.list_keys(s3, bucket, "runs/")):
            assert time.monotonic() < deadline and run.poll() is None, "the run never reached preprocess"
            time.sleep(0.2)
        aws.stop()  # S3 (and SNS) unreachable: connection refused
        time.sleep(8)
        aws.start()  # same port, same state
        out, _ = run.communicate(timeout=300)
    finally:
        run.kill()

    assert "state=success" in out, out[-3000:]
    assert "up_for_retry" in out.lower(), "some task must have failed on the outage and been retried"
    prefix = aws.latest_run_prefix(bucket)
    meta = json.loads(_body(s3, bucket, f"{prefix}/model.json"))
    assert meta["sha256"] == hashlib.sha256(_body(s3, bucket, f"{prefix}/model.joblib")).hexdigest()
