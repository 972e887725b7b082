"""Under a real scheduler (`airflow standalone`, LocalExecutor): backfills, racing promotions, clear and
re-run, a training worker killed with SIGKILL (during the backfill, which saves a run of its own), and the
scheduler itself killed mid-run and restarted. The DAG talks to moto's HTTP server as in production.

The scheduler is the session's shared ``airflow_server``; this module has its own buckets and topic. The runs
train on the stratified sample: what is checked is scheduling, not the model.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time

import pytest

from devtools import airflow_api
from include.bank_marketing import storage
from include.bank_marketing.layout import CHAMPION_KEY, run_prefix
from tests.support import data

# Runs on the same xdist worker as test_trigger_form.py, so both use one server (tests/conftest.py XDIST_GROUPS).
pytestmark = pytest.mark.e2e

DAG = "bank_marketing_training"
DATA = data.sample_csv()
# Two dates, run side by side (the backfill's max_active_runs): enough for concurrent runs racing to promote,
# and each run costs the shared scheduler about 40 s of two busy cores.
DATES = ("2026-11-01", "2026-11-02")
BUCKET = "backfill"
TOPIC = "scheduler-alerts"


@pytest.fixture(scope="module")
def scheduler(airflow_server, aws):
    """The shared scheduler, with this module's topic (and its SQS inbox) created."""
    airflow_server.scheduler_topic_arn, _ = aws.create_topic_with_queue(TOPIC)
    return airflow_server


def _conf(scheduler, **conf):
    """A run's conf: this module's topic, logistic regression only (the quickest family), automatic promotion,
    and ``conf``."""
    return {
        "sns_topic_arn": scheduler.scheduler_topic_arn,
        "model_families": ["logistic_regression"],
        "approval": "auto",  # these runs race to promote; test_approval.py has the runs that wait for a person
        **conf,
    }


def _objects(s3, prefix: str) -> dict[str, object]:
    return {o["Key"]: o["LastModified"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


@pytest.fixture(scope="module")
def backfill_run(scheduler, aws):
    """A backfill of DATES, 2 runs at a time, and, while it runs, the first training task to start is killed
    with SIGKILL (a worker dying mid-task): ``{"runs": {run_id: run}, "killed": {...}}``."""
    aws.create_bucket(BUCKET)
    for day in DATES:
        aws.upload(BUCKET, f"raw/{day}/banking.csv", DATA)
    body = {
        "dag_id": DAG,
        "from_date": f"{DATES[0]}T00:00:00Z",
        "to_date": f"{DATES[-1]}T00:00:00Z",
        "max_active_runs": 2,
        "dag_run_conf": _conf(scheduler, bucket=BUCKET, input_key="raw/{{ ds }}/banking.csv"),
        "reprocess_behavior": "none",
    }
    scheduler.send("POST", "/backfills", body)
    deadline = time.monotonic() + 60
    while len(ids := [r["dag_run_id"] for r in scheduler.runs() if r["run_type"] == "backfill"]) < len(DATES):
        assert time.monotonic() < deadline, "the backfill did not create its runs"
        time.sleep(1)
    killed = _kill_the_first_training_task(scheduler, aws.client("s3"), ids)
    runs = scheduler.wait_for_runs(ids)
    # The killed run's training task as the run left it (the clear-and-re-run test later resets a run's tries).
    [train] = [t for t in scheduler.task_instances(killed["run_id"]) if t["task_id"] == "train"]
    return {"runs": runs, "killed": {**killed, "train": train}}


def _kill_the_first_training_task(scheduler, s3, run_ids) -> dict:
    """SIGKILL the process of the first ``train`` task seen running in ``run_ids``, at once; returns its run id
    and the run's keys at that moment. Not in the last run: the clear-and-re-run test re-runs that one."""
    deadline = time.monotonic() + 600  # the backfill starts training only after validate and preprocess
    while True:
        running = [
            (run_id, ti)
            for run_id in sorted(run_ids)[:-1]
            for ti in scheduler.task_instances(run_id)
            if ti["task_id"] == "train" and ti["state"] == "running" and ti.get("pid")
        ]
        if running:
            break
        assert time.monotonic() < deadline, "no training task started"
        time.sleep(0.5)  # a training task runs for seconds; faster polling only loads the API server
    run_id, ti = running[0]
    os.kill(int(ti["pid"]), signal.SIGKILL)
    prefix = f"runs/{run_id.replace('+', '_')}/"
    return {"run_id": run_id, "prefix": prefix, "keys_at_kill": _objects_in(s3, BUCKET, prefix)}


@pytest.fixture(scope="module")
def backfill(backfill_run):
    """The backfill's runs by id."""
    return backfill_run["runs"]


def test_backfill_gives_each_date_one_complete_separate_set(backfill, aws):
    assert {r["state"] for r in backfill.values()} == {"success"}
    s3 = aws.client("s3")
    inputs = set()
    for run_id in backfill:
        prefix = f"runs/{run_id.replace('+', '_')}/"
        keys = set(_objects(s3, prefix))
        for name in ("model.joblib", "model.json", "metrics.json", "new.csv", "validated.parquet"):
            assert prefix + name in keys, f"{run_id} lacks {name}"
        meta = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "model.json")["Body"].read())
        inputs.add(meta["input"]["uri"])
    assert inputs == {f"s3://{BUCKET}/raw/{day}/banking.csv" for day in DATES}


def test_backfill_ran_more_than_one_run_at_a_time(backfill):
    spans = sorted((r["start_date"], r["end_date"]) for r in backfill.values())
    assert any(later_start < earlier_end for (_, earlier_end), (later_start, _) in itertools.pairwise(spans))


def test_racing_promotions_leave_one_consistent_champion(backfill, aws):
    """Identical data on every date: exactly one run may promote; the others keep it, with the reason."""
    s3 = aws.client("s3")
    history = [
        json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())
        for k in storage.list_keys(s3, BUCKET, "models/history/")
    ]
    assert len(history) == len(DATES)
    promoted = [h for h in history if h["decision"] == "promoted"]
    assert len(promoted) == 1
    champion = json.loads(s3.get_object(Bucket=BUCKET, Key=CHAMPION_KEY)["Body"].read())
    assert champion["run_id"] == promoted[0]["run_id"]
    assert champion["sha256"] == promoted[0]["sha256"]
    for kept in (h for h in history if h["decision"] == "kept_champion"):
        assert kept["reason"].startswith("challenger AUC") and "< champion" in kept["reason"]


def test_clear_and_rerun_replaces_the_runs_artifacts_without_new_history(backfill, scheduler, aws):
    s3 = aws.client("s3")
    run_id = sorted(backfill)[-1]
    prefix = f"runs/{run_id.replace('+', '_')}/"
    before = _objects(s3, prefix)
    history_before = storage.list_keys(s3, BUCKET, "models/history/")
    champion_before = s3.get_object(Bucket=BUCKET, Key=CHAMPION_KEY)["Body"].read()

    scheduler.send(
        "POST",
        f"/dags/{DAG}/clearTaskInstances",
        {"dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True, "dry_run": False},
    )
    time.sleep(3)
    [rerun] = scheduler.wait_for_runs([run_id]).values()

    assert rerun["state"] == "success"
    after = _objects(s3, prefix)
    assert set(after) == set(before)  # the same set of keys, no leftovers and no duplicates
    assert all(after[k] >= before[k] for k in before) and after[prefix + "model.json"] > before[prefix + "model.json"]
    assert storage.list_keys(s3, BUCKET, "models/history/") == history_before
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=CHAMPION_KEY)["Body"].read()) == json.loads(champion_before)


def test_a_training_worker_killed_with_sigkill_is_retried_to_complete_artifacts(backfill_run, aws):
    """Merged into the backfill (one run fewer): its first training task was killed with SIGKILL mid-run."""
    killed = backfill_run["killed"]
    prefix = killed["prefix"]
    # Killed before its work was done (no candidate yet), and nothing final existed before the work was done.
    assert prefix + "candidates/logistic_regression.joblib" not in killed["keys_at_kill"], "killed after training"
    assert prefix + "model.json" not in killed["keys_at_kill"]

    assert backfill_run["runs"][killed["run_id"]]["state"] == "success"
    assert killed["train"]["state"] == "success"
    assert killed["train"]["try_number"] >= 2, "the killed try must have been retried"
    s3 = aws.client("s3")
    keys = _objects_in(s3, BUCKET, prefix)
    for name in ("model.joblib", "model.json", "metrics.json", "new.csv", "candidates/logistic_regression.joblib"):
        assert prefix + name in keys
    meta = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "model.json")["Body"].read())
    model_bytes = s3.get_object(Bucket=BUCKET, Key=prefix + "model.joblib")["Body"].read()
    assert storage.sha256_hex(model_bytes) == meta["sha256"]


def _objects_in(s3, bucket: str, prefix: str) -> set[str]:
    return set(storage.list_keys(s3, bucket, prefix))


def test_the_shared_airflow_and_moto_listen_on_loopback_only(airflow_server, aws):
    """While they run, no socket of the servers the tests started (airflow standalone's API server, scheduler,
    DAG processor and triggerer, its PostgreSQL, moto) listens beyond 127.0.0.1, but Airflow's log servers."""
    from urllib.parse import urlsplit

    from tests.conftest import SESSION_STARTED
    from tests.support.listeners import exposed, listeners

    found = listeners(SESSION_STARTED)

    ports = {item.port for item in found}
    assert {urlsplit(airflow_server.root).port, urlsplit(aws.endpoint).port} <= ports  # the check sees both
    assert any("postgres" in item.command for item in found), found  # the fixture's metadata database
    assert exposed(found) == []


def test_a_scheduler_killed_mid_run_and_restarted_finishes_the_run(scheduler, aws):
    """The scheduler dies with SIGKILL while the run trains, with its workers and the training task, and a new
    one starts 5 s later with the same settings (what a process manager or Kubernetes does): the new scheduler
    resets the dead one's task, retries it, and the run finishes, its artifacts whole."""
    bucket, key = "restart", "raw/restart/banking.csv"
    aws.create_bucket(bucket)
    aws.upload(bucket, key, DATA)
    run_id = scheduler.trigger(_conf(scheduler, bucket=bucket, input_key=key))
    deadline = time.monotonic() + 600
    while not any(t["task_id"] == "train" and t["state"] == "running" for t in scheduler.task_instances(run_id)):
        assert time.monotonic() < deadline, "the run never reached its training task"
        time.sleep(0.5)
    killed_at = time.monotonic()
    replacement = airflow_api.restart_scheduler(scheduler)

    try:
        [run] = scheduler.wait_for_runs([run_id]).values()
    except AssertionError as stuck:
        states = [(t["task_id"], t["map_index"], t["state"], t["try_number"]) for t in scheduler.task_instances(run_id)]
        raise AssertionError(f"{stuck}; tasks: {states}") from None
    assert replacement.poll() is None, "the new scheduler exited"
    assert run["state"] == "success", scheduler.task_instances(run_id)
    states = {t["task_id"]: t["state"] for t in scheduler.task_instances(run_id)}
    assert states["promote"] == "success" and states["notify"] == "success", states
    s3 = aws.client("s3")
    prefix = run_prefix(run_id)
    meta = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/model.json")["Body"].read())
    model_bytes = s3.get_object(Bucket=bucket, Key=f"{prefix}/model.joblib")["Body"].read()
    assert storage.sha256_hex(model_bytes) == meta["sha256"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    tries = {t["task_id"]: t["try_number"] for t in scheduler.task_instances(run_id) if t["try_number"] > 1}
    assert tries.get("train", 1) >= 2, "the training task killed with the scheduler must have run again"
    print(f"run finished {time.monotonic() - killed_at:.1f} s after the scheduler was killed; retried: {tries}")
