"""DAG integrity: every DAG file imports cleanly and follows the project's conventions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DAG_ID = "bank_marketing_training"
HEAVY_MODULES = ("pandas", "sklearn", "numpy", "pyarrow", "joblib", "scipy", "matplotlib")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids


def test_every_dag_has_tags_owner_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.owner != "airflow", f"{dag_id}.{task.task_id} keeps the default owner"
            # Sensors fail on timeout by design; every other task retries with exponential backoff.
            if task.task_id != "wait_for_data":
                assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
                assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"


def test_schedule_and_run_limits(dagbag):
    dag = dagbag.dags[DAG_ID]
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert 1 <= dag.max_active_runs <= 4
    assert dag.start_date.year == 2026
    assert dag.on_failure_callback, "the DAG must alert over SNS when a run fails"


def test_pipeline_shape(dagbag):
    dag = dagbag.dags[DAG_ID]
    expected = {
        *("wait_for_data", "validate", "plan_training", "preprocess", "train", "evaluate", "publish"),
        *("check_drift", "choose_path", "promote", "keep_champion", "build_report", "notify"),
    }
    assert set(dag.task_ids) == expected
    assert dag.task_dict["validate"].upstream_task_ids == {"wait_for_data"}
    assert dag.task_dict["train"].upstream_task_ids == {"plan_training", "preprocess"}
    assert dag.task_dict["build_report"].upstream_task_ids >= {"promote", "keep_champion", "check_drift"}
    assert dag.task_dict["build_report"].trigger_rule == "none_failed_min_one_success"
    assert "build_report" in dag.task_dict["notify"].upstream_task_ids
    # Drift is measured against the champion as it was before this run could replace it.
    assert "check_drift" in dag.task_dict["promote"].upstream_task_ids
    assert dag.task_dict["choose_path"].downstream_task_ids == {"promote", "keep_champion"}
    # Promotions never run side by side within this deployment (S3 conditional writes cover the rest).
    assert dag.task_dict["promote"].max_active_tis_per_dag == 1
    sensor = dag.task_dict["wait_for_data"]
    assert sensor.mode == "reschedule"
    assert 0 < sensor.timeout <= 24 * 3600


def test_every_param_is_typed_titled_and_described(dagbag):
    params = dagbag.dags[DAG_ID].params
    required = {"bucket", "input_key", "sns_topic_arn", "model_families", "cv_folds", "param_grids"}
    assert required <= set(params.keys())
    for name in params:
        param = params.get_param(name)
        schema = param.schema
        assert schema.get("type"), f"param {name} has no type"
        assert schema.get("title"), f"param {name} has no title"
        assert param.description, f"param {name} has no description"
        assert schema.get("section"), f"param {name} has no form section"
        if schema["type"] in ("number", "integer"):
            assert "minimum" in schema and "maximum" in schema, f"param {name} has no bounds"
    assert params.get_param("model_families").schema["items"]["enum"] == [
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
    ]
    assert params["input_key"] == "banking.csv"
    assert params["bucket"] == "bank-ml"


def test_baseline_params_default_to_config(dagbag):
    from include.bank_marketing import config

    params = dagbag.dags[DAG_ID].params
    for name, value in config.BASELINES.items():
        assert params[f"baseline_{name}"] == value


@pytest.mark.parametrize("dag_file", ["bank_marketing_training.py", "bank_marketing_scoring.py"])
def test_parsing_imports_no_heavy_libraries(dag_file):
    """Importing a DAG file must not import pandas, scikit-learn and friends (parse time stays cheap)."""
    code = (
        "import json, runpy, sys; "
        f"runpy.run_path({str(ROOT / 'dags' / dag_file)!r}); "
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, env=_env())
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _env():
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_promotion_emits_the_champion_asset_that_schedules_scoring(dagbag):
    promote = dagbag.dags[DAG_ID].task_dict["promote"]
    [asset] = promote.outlets
    assert asset.uri == "s3://bank-ml/models/champion.json"
    scoring = dagbag.dags["bank_marketing_scoring"]
    timetable = scoring.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert asset.uri in str(timetable.asset_condition)
    assert set(scoring.task_ids) == {"wait_for_customers", "score", "notify"}
