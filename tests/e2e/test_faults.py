"""Faults, end to end against the local server: a missing input, an S3 outage, SNS refusing to publish.

The model does not matter here, only the fault: every run trains logistic regression on the stratified sample.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pendulum
import pytest

from devtools import local_aws
from include.bank_marketing import storage
from include.bank_marketing.layout import CHAMPION_KEY
from tests.support import dag_runs, data

pytestmark = pytest.mark.e2e

DAG = "bank_marketing_training"
SAMPLE = data.sample_csv()
FAST = {"model_families": ["logistic_regression"]}


def _body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_a_file_that_never_arrives_times_out_and_alerts(aws, run_dag):
    bucket = "no-file"
    aws.create_bucket(bucket)
    aws.messages(aws.queue_url)
    conf = {"bucket": bucket, "input_key": "raw/{{ ds }}/banking.csv", "wait_timeout_seconds": 10}

    started = time.monotonic()
    result = run_dag(DAG, conf, "2026-11-21")
    elapsed = time.monotonic() - started

    assert result.state == "failed", result.states()
    # The sensor failed at its timeout, once (a sensor timeout is not retried), and nothing after it ran.
    assert (result.state_of("wait_for_data"), result.tries("wait_for_data")) == ("failed", 1)
    assert not any(result.ran(t) for t in ("validate", "preprocess", "train", "notify"))
    assert elapsed < 120, "the sensor must give up at its 10 s timeout, not hang"  # generous: a behaviour bound
    messages = aws.messages(aws.queue_url)
    alert = next(m for m in messages if m["subject"].startswith("[bank-ml] FAILED wait_for_data"))
    assert "timed out" in alert["message"].lower()
    assert any(m["subject"].startswith("[bank-ml] RUN FAILED") for m in messages)
    assert storage.list_keys(aws.client("s3"), bucket) == []  # nothing written, nothing quarantined


def test_sns_failure_retries_and_leaves_the_artifacts_whole(aws, run_dag):
    bucket = "sns-down"
    aws.create_bucket(bucket)
    aws.upload(bucket, "banking.csv", SAMPLE)
    missing_topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic"

    result = run_dag(DAG, {"bucket": bucket, "sns_topic_arn": missing_topic, **FAST})

    assert result.state == "failed", result.states()
    assert (result.state_of("notify"), result.tries("notify")) == ("failed", 3)  # first try and both retries
    assert {k: v for k, v in result.states().items() if v != "success"} == {
        ("notify", -1): "failed",
        ("keep_champion", -1): "skipped",
        ("start_runs_for_other_files", -1): "skipped",  # a manual run starts no run for other files
    }
    s3 = aws.client("s3")
    prefix = aws.latest_run_prefix(bucket)
    meta = json.loads(_body(s3, bucket, f"{prefix}/model.json"))
    assert meta["sha256"] == hashlib.sha256(_body(s3, bucket, f"{prefix}/model.joblib")).hexdigest()
    champion = json.loads(_body(s3, bucket, CHAMPION_KEY))
    assert champion["sha256"] == meta["sha256"] and champion["model_uri"] == meta["model_uri"]
    rows = data.held_out_rows(data.data_rows(SAMPLE))
    assert len(_body(s3, bucket, f"{prefix}/new.csv").splitlines()) == rows + 1


def test_s3_outage_mid_run_is_retried_and_the_run_completes(run_dag, monkeypatch):
    """moto's server stopped once the split is written and started again (same port, same state) once a task
    has failed on the outage and waits for its retry.

    This test has its own server, in this process (moto's threaded server keeps its state across a stop and a
    start), and points the run's connection at it.
    """
    bucket = "s3-outage"
    logical_date = pendulum.datetime(2026, 11, 25, tz="UTC")
    with local_aws.LocalAws() as server:
        server.create_bucket(bucket)
        server.upload(bucket, "banking.csv", SAMPLE)
        topic_arn, _ = server.create_topic_with_queue()
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(server.connection()))
        s3 = server.client("s3")
        outage: dict[str, object] = {}

        def inject() -> None:
            """Stop the server after preprocess; start it again once a task is up for retry (or after 120 s)."""
            deadline = time.monotonic() + 180
            while not any(k.endswith("data/train.parquet") for k in storage.list_keys(s3, bucket, "runs/")):
                if time.monotonic() > deadline:
                    return
                time.sleep(0.2)
            server.stop()  # S3 (and SNS) unreachable: connection refused
            outage["stopped"] = time.monotonic()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                states = dag_runs.task_states_of_date(DAG, logical_date)
                if waiting := sorted(t for t, s in states.items() if s == "up_for_retry"):
                    outage["waiting"] = waiting
                    break
                time.sleep(0.5)
            server.start()  # same port, same state
            outage["restarted"] = time.monotonic()

        injector = threading.Thread(target=inject, daemon=True)
        injector.start()
        conf = {"bucket": bucket, "sns_topic_arn": topic_arn, **FAST}
        try:
            result = run_dag(DAG, conf, logical_date)
        finally:
            injector.join(timeout=200)

        assert "stopped" in outage, "the run never reached preprocess"
        assert outage.get("waiting"), "no task failed on the outage and waited for its retry"
        assert result.state == "success", result.states()
        retried = {r.task_id for r in result.tasks.values() if r.try_number > 1}
        assert retried and retried <= {t.partition("[")[0] for t in outage["waiting"]}, (retried, outage)
        prefix = server.latest_run_prefix(bucket)
        meta = json.loads(_body(s3, bucket, f"{prefix}/model.json"))
        assert meta["sha256"] == hashlib.sha256(_body(s3, bucket, f"{prefix}/model.joblib")).hexdigest()
