"""A new file starts a run: S3 notifies SQS, the triggerer's watcher turns it into an asset event, the scheduler
starts the training DAG on it; and the deferrable sensor waits in the triggerer, not on a worker.

Under the session's shared ``airflow standalone`` (its triggerer runs the watcher), against moto's server, whose
default bucket notifies the queue the DAG watches (tests/e2e/conftest.py, as ``make airflow`` sets it up). This
is the only module that writes to that bucket. Event runs use the DAG's defaults (every model family, approval
required): the module approves the runs that ask, as a person would.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus

import pytest

from devtools import local_aws
from include.bank_marketing.layout import MODEL_JSON, run_key
from tests.support import data

# Runs on the worker of the shared airflow standalone (tests/conftest.py XDIST_GROUPS).
pytestmark = pytest.mark.e2e

DAG = "bank_marketing_training"
BUCKET = local_aws.DEFAULT_BUCKET  # the watched bucket (BANK_ML_EVENTS_BUCKET's default)
LATE_BUCKET = "arrivals-late"
# How long after the upload a run must have started (the bound; the watcher's long poll is 10 s).
START_WITHIN_S = 30
# The deferrable sensor's file arrives this long after the sensor was seen deferred.
LATE_BY_S = 20
ROWS = 2000  # small files: these tests are about which runs start, not about the model
QUICK = {"approval": "auto", "model_families": ["logistic_regression"], "cv_folds": 2}


def _csv(seed: int) -> bytes:
    """A small stratified sample of banking.csv; another seed gives other rows (another ETag)."""
    return data.sample_csv(rows=ROWS, seed=seed)


def _run_key(api, run_id: str) -> str:
    """The key resolve_input chose for the run."""
    path = f"/dags/{DAG}/dagRuns/{quote(run_id)}/taskInstances/resolve_input/xcomEntries/key"
    return api.get(path)["value"]


def _new_runs(api, known: set[str]) -> dict[str, dict]:
    return {r["dag_run_id"]: r for r in api.runs() if r["dag_run_id"] not in known}


def _wait_for_new_runs(api, known: set[str], count: int, timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while len(runs := _new_runs(api, known)) < count:
        assert time.monotonic() < deadline, f"{len(runs)} of {count} runs started in {timeout} s: {sorted(runs)}"
        time.sleep(0.5)
    return runs


def _settle(api, run_ids: set[str], timeout: float = 600) -> dict[str, dict]:
    """Wait until every run has ended, approving each promotion request on the way (the DAG's default is
    approval=required). A request asked again after an answer (Airflow 3.3.2 can lose one: RELIABILITY.md)
    is answered again."""
    answered: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while True:
        runs = {r["dag_run_id"]: r for r in api.runs() if r["dag_run_id"] in run_ids}
        if all(r["state"] in ("success", "failed") for r in runs.values()) and len(runs) == len(run_ids):
            return runs
        for run_id, run in runs.items():
            if run["state"] != "running":
                continue
            gate = api.task_instance(run_id, "approve")
            if gate["state"] == "awaiting_input" and answered.get(run_id) != gate["try_number"]:
                time.sleep(1)  # as a person reading the request takes at least
                api.answer(run_id, "approve", "Approve", "new file, approved")
                answered[run_id] = gate["try_number"]
        assert time.monotonic() < deadline, {k: r["state"] for k, r in runs.items()}
        time.sleep(2)


def _s3_record(key: str, etag: str, event_name: str = "ObjectCreated:Put", bucket: str = BUCKET) -> str:
    """An S3 notification body as S3 (and moto) sends it: the key URL-encoded."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": local_aws.REGION,
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe=""), "size": 10, "eTag": etag},
        },
    }
    return json.dumps({"Records": [record]})


@pytest.fixture(scope="module")
def arrivals(airflow_server, aws):
    """Everything this module checks, in one sequence on the shared scheduler:

    1. a manual run whose input is not there yet: its sensor defers;
    2. one new file under raw/: one run on it;
    3. the sensor's file, LATE_BY_S after the sensor deferred;
    4. a burst: a test event, a duplicate notification, a .txt and an object outside raw/ (as notifications the
       watcher must drop, and as uploads S3's filter drops), then three files at once, one of them a new upload
       to the key of step 2.
    """
    api, s3, sqs = airflow_server, aws.client("s3"), aws.client("sqs")
    known = {r["dag_run_id"] for r in api.runs()}
    out: dict = {}

    # 1. The deferrable sensor: its file arrives after it started.
    aws.create_bucket(LATE_BUCKET)
    late = api.trigger({"bucket": LATE_BUCKET, "input_key": "late/banking.csv", "wait_timeout_seconds": 600, **QUICK})
    known.add(late)
    out["late"] = late
    out["late_deferred"] = api.wait_for_task(late, "wait_for_data", "deferred", timeout=120)
    deferred_at = time.monotonic()

    # 2. One new file, once the watcher is registered (the DAG processor does so after the DAG is unpaused).
    deadline = time.monotonic() + 120
    while not api.watched_assets():
        assert time.monotonic() < deadline, "no asset watcher registered 120 s after the DAG was unpaused"
        time.sleep(1)
    time.sleep(3)  # and picked up by the triggerer (it looks for new triggers every second or so)
    uploaded = time.time()
    aws.upload(BUCKET, "raw/first.csv", _csv(1))
    runs = _wait_for_new_runs(api, known, 1, START_WITHIN_S + 30)
    out["first_started_s"] = time.time() - uploaded
    [first] = runs
    known |= set(runs)
    out["first"] = runs[first]

    # 3. The late file.
    time.sleep(max(0.0, LATE_BY_S - (time.monotonic() - deferred_at)))
    out["late_by_s"] = time.monotonic() - deferred_at
    aws.upload(LATE_BUCKET, "late/banking.csv", _csv(2))
    out["settled_first"] = _settle(api, {first, late})

    # 4. The burst. First what must start nothing, then three files.
    incoming = aws.incoming_queue_url
    first_etag = s3.head_object(Bucket=BUCKET, Key="raw/first.csv")["ETag"].strip('"')
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-29T00:00:00Z", "Bucket": BUCKET}
    for body in (
        json.dumps(test_event),
        _s3_record("raw/first.csv", first_etag),  # a repeat of step 2's notification: that file has its run
        _s3_record("raw/notes.txt", "0" * 32),
        _s3_record("elsewhere/first.csv", "1" * 32),
    ):
        sqs.send_message(QueueUrl=incoming, MessageBody=body)
    aws.upload(BUCKET, "raw/notes.txt", b"not a training file")
    aws.upload(BUCKET, "elsewhere/other.csv", _csv(3))
    burst_at = time.time()
    out["burst_keys"] = {"raw/batch-a.csv", "raw/batch-b.csv", "raw/first.csv"}
    for seed, key in enumerate(sorted(out["burst_keys"]), start=4):
        aws.upload(BUCKET, key, _csv(seed))  # raw/first.csv again, with other rows: a new file
    out["burst_etags"] = {k: s3.head_object(Bucket=BUCKET, Key=k)["ETag"].strip('"') for k in out["burst_keys"]}
    # The same notification twice (S3 may deliver one twice; moto sends Put and CompleteMultipartUpload for one
    # multipart upload): the watcher must start one run for it.
    sqs.send_message(
        QueueUrl=incoming,
        MessageBody=_s3_record("raw/batch-a.csv", out["burst_etags"]["raw/batch-a.csv"], "ObjectCreated:Copy"),
    )
    # One file at a time, each once the run before has claimed its file: up to three claim waits (60 s each)
    # when a loaded machine starts tasks slowly. The figure kept below is what it took.
    runs = _wait_for_new_runs(api, known, 3, 3 * 60 + START_WITHIN_S)
    out["burst_started_s"] = time.time() - burst_at
    out["burst"] = _settle(api, set(runs))
    known |= set(runs)
    # Anything the dropped notifications could have started would have started by now (the runs took minutes).
    out["after"] = _new_runs(api, known)
    out["keys"] = {run_id: _run_key(api, run_id) for run_id in [first, *runs]}
    out["models"] = {
        run_id: json.loads(s3.get_object(Bucket=BUCKET, Key=run_key(run_id, MODEL_JSON))["Body"].read())
        for run_id in [first, *runs]
        if out["settled_first"].get(run_id, out["burst"].get(run_id, {})).get("state") == "success"
    }
    figures = {"first_run_started_s": out["first_started_s"], "three_runs_started_s": out["burst_started_s"]}
    print(f"\nfile events: {figures}")
    # Kept for README's "How a run starts" (pytest captures the print).
    with contextlib.suppress(OSError):
        (local_aws.ROOT / "out").mkdir(exist_ok=True)
        (local_aws.ROOT / "out" / "arrivals.json").write_text(json.dumps(figures, indent=1) + "\n")
    return out


def test_a_new_file_starts_one_run_that_trains_on_it(arrivals):
    run = arrivals["first"]
    assert run["run_type"] == "asset_triggered"
    assert arrivals["first_started_s"] <= START_WITHIN_S, f"started {arrivals['first_started_s']:.1f} s after upload"
    assert arrivals["settled_first"][run["dag_run_id"]]["state"] == "success"
    assert arrivals["keys"][run["dag_run_id"]] == "raw/first.csv"
    model = arrivals["models"][run["dag_run_id"]]
    assert model["input"]["uri"] == f"s3://{BUCKET}/raw/first.csv"
    assert model["input"]["rows"] == ROWS


def test_three_files_at_once_start_three_runs_each_on_its_own_file(arrivals):
    burst = arrivals["burst"]
    assert len(burst) == 3, sorted(burst)
    assert all(run["state"] == "success" for run in burst.values()), {k: r["state"] for k, r in burst.items()}
    keys = {arrivals["keys"][run_id] for run_id in burst}
    assert keys == arrivals["burst_keys"]
    # Each trained on its own file: the model records the exact object it read (the new raw/first.csv too).
    for run_id in burst:
        key = arrivals["keys"][run_id]
        assert arrivals["models"][run_id]["input"]["uri"] == f"s3://{BUCKET}/{key}"
    # One run per file: started by its own event (the watcher announces the next file once a run has taken the
    # previous one), or, had Airflow folded events together, by the run that took the batch (run id file__...).
    for run_id, run in burst.items():
        assert run["run_type"] == "asset_triggered" or run_id.startswith("file__"), (run_id, run["run_type"])


def test_test_events_duplicates_and_other_objects_start_nothing(arrivals):
    assert arrivals["after"] == {}, sorted(arrivals["after"])


def test_the_sensor_defers_to_the_triggerer_until_its_late_file_arrives(arrivals):
    deferred = arrivals["late_deferred"]
    assert deferred["state"] == "deferred"
    assert arrivals["late_by_s"] >= LATE_BY_S
    run = arrivals["settled_first"][arrivals["late"]]
    assert run["state"] == "success"
