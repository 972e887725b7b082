"""pipeline: the DAG's stages in one process (the benchmark's bare pipeline), on a sample of banking.csv."""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from include.bank_marketing import config, params, pipeline, storage, training
from include.bank_marketing.contracts import RunResults
from tests.support.builders import BUCKET

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "arn:aws:sns:us-east-1:123456789012:bench-alerts"


def dag_task_ids() -> set[str]:
    """Task ids of the training DAG: its @task function names and the sensor's id, read from the source."""
    tree = ast.parse((ROOT / "dags" / "bank_marketing_training.py").read_text())
    ids = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.decorator_list}
    return (ids - {"bank_marketing_training"}) | {"wait_for_data"}


@pytest.fixture(scope="module")
def sample_csv() -> bytes:
    frame = pd.read_csv(ROOT / "include" / "data" / "banking.csv", sep=";", dtype=str, keep_default_na=False)
    return frame.sample(n=3000, random_state=0).to_csv(sep=";", index=False).encode()


class RecordingSns:
    """Stands in for the SNS client: records what the pipeline publishes."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, **kwargs) -> dict:
        self.published.append(kwargs)
        return {"MessageId": str(len(self.published))}


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    """Every fit in this process. n_jobs only spreads the same fits over worker processes; for 2,400 training
    rows, starting those workers (each importing scikit-learn) took longer than the fits themselves."""
    monkeypatch.setattr(config, "N_JOBS", 1)
    monkeypatch.setattr(training, "grid_search", functools.partial(training.grid_search, n_jobs=1))


@pytest.fixture
def reports(monkeypatch) -> list:
    """report.build_report replaced by a recorder: the report has its own tests (tests/unit/test_report.py),
    and this test is about the stages and their hand-overs."""
    calls = []

    def build_report(run, results):
        calls.append((run, results))
        return {"report_uri": run.uri("report.html"), "report_url": None, "chart_uris": {}}

    monkeypatch.setattr(pipeline.report, "build_report", build_report)
    return calls


def test_run_does_the_dags_stages_in_order_and_publishes(s3, sample_csv, reports):
    s3.put_object(Bucket=BUCKET, Key="banking.csv", Body=sample_csv)
    sns = RecordingSns()
    run_params = params.defaults(BUCKET) | {"model_families": ["logistic_regression"], "sns_topic_arn": TOPIC}
    seen: list[str] = []

    def stage(name):
        seen.append(name)
        return contextlib.nullcontext()

    results, links, subject = pipeline.run(s3, sns, "bench_1", run_params, stage)

    assert seen == [
        "validate", "check_drift", "preprocess", "plan_training", "train[logistic_regression]",
        "evaluate", "publish", "explain_for_campaign", "promote", "build_report", "notify",
    ]  # fmt: skip
    # Every stage is a task of the DAG, so the benchmark compares like with like.
    assert {name.split("[")[0] for name in seen} <= dag_task_ids()
    assert set(results) == RunResults.__required_keys__
    assert results["validated"]["rows"] == 3000
    assert [c["family"] for c in results["candidates"]] == ["logistic_regression"]
    assert results["evaluation"]["family"] == "logistic_regression"
    assert 0.8 < results["evaluation"]["metrics"]["auc"] <= 1
    assert results["decision"]["promote"] is True  # an empty bucket: the first model becomes the champion
    assert results["drift"]["summary"] == "no champion to compare with"
    # The campaign figures of the winning model, at the operating point's rule (f1 by default) first.
    explained = results["campaign"]
    assert explained["threshold_rule"] == results["evaluation"]["threshold_rule"] == "f1"
    assert [p["rule"] for p in explained["profit"]] == ["f1", "profit"]
    assert [p["threshold"] for p in explained["profit"]] == [
        results["evaluation"]["thresholds"]["f1"],
        results["evaluation"]["thresholds"]["profit"],
    ]
    assert explained["compared_with"] is None  # the lab's family won: nothing to compare with
    assert storage.read_json(s3, explained["campaign_uri"])["rows"] == 600
    new_csv = pd.read_csv(io.BytesIO(storage.read_bytes(s3, results["artifacts"]["new_csv_uri"])))
    assert len(new_csv) == 600 and {"probability", "predicted"} <= set(new_csv.columns)
    assert storage.read_json(s3, f"s3://{BUCKET}/models/champion.json")["run_id"] == "bench_1"
    # The report is built from the run's own results, and the message links it.
    [(report_run, report_results)] = reports
    assert (report_run.bucket, report_run.run_id) == (BUCKET, "bench_1")
    assert report_results == results
    assert links == {"report_uri": f"s3://{BUCKET}/runs/bench_1/report.html", "report_url": None, "chart_uris": {}}
    # One SNS message, to the topic of the run's Params.
    [message] = sns.published
    assert message["TopicArn"] == TOPIC
    assert message["Subject"] == subject
    assert subject.startswith("[bank-ml]")
    assert f"Report: {links['report_uri']}" in message["Message"]
    json.dumps(results)  # every hand-over is plain JSON, as XCom carries it


def test_run_reads_the_params_as_the_dag_does(s3, sample_csv, reports):
    # drop_duration, cv_folds, a grid override and the baselines, through the same Params the form sends.
    s3.put_object(Bucket=BUCKET, Key="raw/in.csv", Body=sample_csv)
    run_params = params.defaults(BUCKET, "raw/in.csv") | {
        "model_families": ["logistic_regression"],
        "param_grids": {"logistic_regression": {"C": [0.5]}},
        "cv_folds": 2,
        "drop_duration": True,
        "baseline_auc": 0.999,
    }

    seen: list[str] = []

    def stage(name):
        seen.append(name)
        return contextlib.nullcontext()

    results, _, subject = pipeline.run(s3, RecordingSns(), "bench_2", run_params, stage)

    assert results["validated"]["input_uri"] == f"s3://{BUCKET}/raw/in.csv"
    assert results["split"]["dropped"] == ["duration"]
    assert "duration" not in results["split"]["numeric"]
    [candidate] = results["candidates"]
    assert (candidate["best_params"], candidate["cv_folds"]) == ({"C": 0.5}, 2)
    assert results["evaluation"]["checks"]["auc"]["baseline"] == pytest.approx(0.999)
    assert results["evaluation"]["verdict"] == "BELOW_BASELINE"
    assert results["decision"]["promote"] is False  # below a baseline: kept, through keep_champion
    assert "keep_champion" in seen and "promote" not in seen
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="models/champion.json").get("Contents")
    assert subject.startswith("[bank-ml] BELOW BASELINE")
