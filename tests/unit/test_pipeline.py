"""pipeline: the DAG's stages in one process (the benchmark's bare pipeline), on a sample of banking.csv."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import boto3
import pandas as pd
import pytest

from include.bank_marketing import config, pipeline, storage
from tests.unit.conftest import BUCKET

ROOT = Path(__file__).resolve().parents[2]


def dag_task_ids() -> set[str]:
    """Task ids of the training DAG: its @task function names and the sensor's id, read from the source."""
    tree = ast.parse((ROOT / "dags" / "bank_marketing_training.py").read_text())
    ids = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.decorator_list}
    return (ids - {"bank_marketing_training"}) | {"wait_for_data"}


@pytest.fixture
def sample_csv() -> bytes:
    frame = pd.read_csv(ROOT / "include" / "data" / "banking.csv", sep=";", dtype=str, keep_default_na=False)
    return frame.sample(n=3000, random_state=0).to_csv(sep=";", index=False).encode()


def test_default_params_are_the_dag_defaults():
    params = pipeline.default_params("some-bucket", "raw/in.csv")

    assert params["bucket"] == "some-bucket" and params["input_key"] == "raw/in.csv"
    assert params["model_families"] == list(config.FAMILIES)
    assert params["cv_folds"] == config.DEFAULT_CV_FOLDS
    assert {k.removeprefix("baseline_"): v for k, v in params.items() if k.startswith("baseline_")} == config.BASELINES


def test_run_does_the_dags_stages_in_order_and_publishes(s3, sample_csv):
    s3.put_object(Bucket=BUCKET, Key="banking.csv", Body=sample_csv)
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="bench-alerts")["TopicArn"]
    params = pipeline.default_params(BUCKET) | {"model_families": ["logistic_regression"]}
    seen: list[str] = []

    def stage(name):
        seen.append(name)
        return pipeline.contextlib.nullcontext()

    out = pipeline.run(s3, sns, topic, "bench_1", params, stage)

    assert seen == [
        "validate", "check_drift", "preprocess", "plan_training", "train[logistic_regression]",
        "evaluate", "publish", "promote", "build_report", "notify",
    ]  # fmt: skip
    # Every stage is a task of the DAG, so the benchmark compares like with like.
    assert {name.split("[")[0] for name in seen} <= dag_task_ids()
    assert out["validated"]["rows"] == 3000
    assert out["evaluation"]["family"] == "logistic_regression"
    assert 0.8 < out["evaluation"]["metrics"]["auc"] <= 1
    assert out["decision"]["promote"] is True  # an empty bucket: the first model becomes the champion
    new_csv = pd.read_csv(io.BytesIO(storage.read_bytes(s3, out["artifacts"]["new_csv_uri"])))
    assert len(new_csv) == 600 and {"probability", "predicted"} <= set(new_csv.columns)
    assert storage.read_json(s3, f"s3://{BUCKET}/models/champion.json")["run_id"] == "bench_1"
    assert out["subject"].startswith("[bank-ml]")
