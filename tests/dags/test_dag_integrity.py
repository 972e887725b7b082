"""DAG integrity: every DAG file imports cleanly and follows the project's conventions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DAGS_FOLDER = ROOT / "dags"
DAG_ID = "bank_marketing_training"
SCORING_DAG_ID = "bank_marketing_scoring"
DAG_FILES = ["bank_marketing_training.py", "bank_marketing_scoring.py"]
SENSORS = {DAG_ID: "wait_for_data", SCORING_DAG_ID: "wait_for_customers"}
HEAVY_MODULES = ("pandas", "sklearn", "numpy", "pyarrow", "joblib", "scipy", "matplotlib")


@pytest.fixture(scope="module")
def dagbag():
    """The DAG folder parsed as Airflow's DAG processor parses it: as a bundle whose folder is on sys.path
    (which is how the DAG files import ``bank_marketing_common``), honouring ``.airflowignore``."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER)


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {DAG_ID, SCORING_DAG_ID}


def test_airflowignore_keeps_the_helper_package_out_of_the_dag_bag(dagbag):
    from airflow.utils.file import list_py_file_paths

    lines = [line.strip() for line in (DAGS_FOLDER / ".airflowignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert any("bank_marketing_common" in pattern for pattern in patterns), patterns
    assert (DAGS_FOLDER / "bank_marketing_common" / "__init__.py").exists()
    # Parsed: the two DAG files and nothing else (safe mode off, so only .airflowignore keeps a file out).
    parsed = {os.path.relpath(p, DAGS_FOLDER) for p in list_py_file_paths(str(DAGS_FOLDER), safe_mode=False)}
    assert parsed == set(DAG_FILES)
    assert {stat.file for stat in dagbag.dagbag_stats} == set(DAG_FILES)
    assert {stat.file: stat.dag_num for stat in dagbag.dagbag_stats} == dict.fromkeys(DAG_FILES, 1)


def test_every_dag_has_tags_owner_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert {"ml", "bank-marketing"} <= set(dag.tags), f"{dag_id} lacks the project's tags"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id} has no doc_md"
        assert dag.on_failure_callback, f"{dag_id} must alert over SNS when a run fails"
        for task in dag.tasks:
            assert task.owner == "ml-platform", f"{dag_id}.{task.task_id} keeps the default owner"
            assert task.on_failure_callback, f"{dag_id}.{task.task_id} does not alert on failure"
            # Sensors fail on timeout by design; every other task retries with exponential backoff.
            if task.task_id != SENSORS[dag_id]:
                assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
                assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"
                assert task.max_retry_delay, f"{dag_id}.{task.task_id} has no cap on its retry delay"


def test_schedule_and_run_limits(dagbag):
    dag = dagbag.dags[DAG_ID]
    # Daily at midnight UTC, as a trigger timetable (the logical date is the end of the data interval), or
    # when a new file arrives, whichever comes first.
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    daily = dag.timetable.timetable
    # (Airflow 3.3 expands the "@daily" preset; 3.2 keeps it as written.)
    assert type(daily).__name__ == "CronTriggerTimetable"
    assert daily.expression in ("0 0 * * *", "@daily")

    assert dag.catchup is False
    assert 1 <= dag.max_active_runs <= 4
    assert dag.start_date.year == 2026
    assert dag.on_failure_callback, "the DAG must alert over SNS when a run fails"
    scoring = dagbag.dags[SCORING_DAG_ID]
    assert scoring.catchup is False
    assert scoring.max_active_runs == 1  # two scorings of a day would write the same predictions.csv


def test_pipeline_shape(dagbag):
    dag = dagbag.dags[DAG_ID]
    expected = {
        *("resolve_input", "other_files", "start_runs_for_other_files"),
        *("wait_for_data", "validate", "plan_training", "preprocess", "train", "evaluate", "publish"),
        *("check_drift", "explain_for_campaign", "approve", "promote", "keep_champion", "build_report", "notify"),
    }
    assert set(dag.task_ids) == expected
    assert dag.task_dict["wait_for_data"].upstream_task_ids == {"resolve_input"}
    assert dag.task_dict["validate"].upstream_task_ids == {"wait_for_data", "resolve_input"}
    # The runs for the other files of a batch start beside this run's work, not after it.
    assert dag.task_dict["start_runs_for_other_files"].downstream_task_ids == set()
    assert dag.task_dict["train"].upstream_task_ids == {"plan_training", "preprocess"}
    assert dag.task_dict["build_report"].upstream_task_ids >= {"promote", "keep_champion", "check_drift"}
    assert dag.task_dict["build_report"].trigger_rule == "none_failed_min_one_success"
    assert "build_report" in dag.task_dict["notify"].upstream_task_ids
    # The campaign figures come from the split, the candidates and the evaluation, beside publish; the approver
    # and the report see them.
    assert dag.task_dict["explain_for_campaign"].upstream_task_ids == {"preprocess", "train", "evaluate"}
    assert "explain_for_campaign" in dag.task_dict["approve"].upstream_task_ids
    assert "explain_for_campaign" in dag.task_dict["build_report"].upstream_task_ids
    # Drift is measured against the champion as it was before this run could replace it, and both branches
    # come after publish (the model a promotion points at exists): the gate before them takes both.
    assert {"check_drift", "publish", "evaluate"} <= dag.task_dict["approve"].upstream_task_ids
    assert dag.task_dict["approve"].downstream_task_ids == {"promote", "keep_champion"}
    assert dag.task_dict["promote"].upstream_task_ids >= {"approve", "publish"}
    assert "approve" in dag.task_dict["keep_champion"].upstream_task_ids
    # Promotions never run side by side within this deployment (S3 conditional writes cover the rest).
    assert dag.task_dict["promote"].max_active_tis_per_dag == 1


def test_the_promotion_gate_is_a_human_in_the_loop_branch_whose_silence_keeps_the_champion(dagbag):
    from airflow.providers.standard.operators.hitl import HITLBranchOperator

    gate = dagbag.dags[DAG_ID].task_dict["approve"]
    assert isinstance(gate, HITLBranchOperator)
    assert gate.options == ["Approve", "Reject"]
    assert gate.options_mapping == {"Approve": "promote", "Reject": "keep_champion"}
    assert gate.defaults == ["Reject"]  # the timeout's answer
    # The approval form shows the comment field only, not the DAG's Params.
    assert list(gate.serialized_params) == ["comment"]


def test_the_approval_params_default_to_a_person_signing_off_within_a_day(dagbag):
    params = dagbag.dags[DAG_ID].params
    approval = params.get_param("approval")
    assert (approval.value, approval.schema["enum"]) == ("required", ["auto", "required"])
    timeout = params.get_param("approval_timeout")
    assert (timeout.value, timeout.schema["type"]) == (86400, "integer")
    assert timeout.schema["minimum"] >= 1 and timeout.schema["maximum"] == 7 * 86400
    # The run may wait that long for an approval (and the sensor for its file) before dagrun_timeout ends it.
    dag = dagbag.dags[DAG_ID]
    assert (
        dag.dagrun_timeout.total_seconds()
        > timeout.schema["maximum"] + params.get_param("wait_timeout_seconds").schema["maximum"]
    )


def test_a_late_run_alerts_through_airflows_deadline_alert(dagbag):
    dag = dagbag.dags[DAG_ID]
    # From the logical date for scheduled runs, from the queued time for runs without one (file events).
    by_reference = {type(alert.reference).__name__: alert for alert in dag.deadline}
    assert set(by_reference) == {"DagRunLogicalDateDeadline", "DagRunQueuedAtDeadline"}
    for name, reference in [("DagRunLogicalDateDeadline", "logical_date"), ("DagRunQueuedAtDeadline", "queued_at")]:
        alert = by_reference[name]
        assert alert.interval.total_seconds() == 6 * 3600
        assert type(alert.callback).__name__ == "SyncCallback"
        assert alert.callback.path == "bank_marketing_common.deadline.alert_late_run"
        assert alert.callback.kwargs == {"reference": reference}


def test_scoring_shape(dagbag):
    dag = dagbag.dags[SCORING_DAG_ID]
    assert set(dag.task_ids) == {"wait_for_customers", "score", "notify"}
    assert dag.task_dict["score"].upstream_task_ids == {"wait_for_customers"}
    assert dag.task_dict["notify"].upstream_task_ids == {"score"}


@pytest.mark.parametrize("dag_id", list(SENSORS))
def test_sensor_defers_to_the_triggerer_with_a_bounded_timeout(dagbag, dag_id):
    sensor = dagbag.dags[dag_id].task_dict[SENSORS[dag_id]]
    assert type(sensor).__name__ == "ParamTimeoutS3KeySensor"
    assert sensor.deferrable is True
    assert 0 < sensor.timeout <= 24 * 3600
    assert sensor.bucket_name == "{{ params.bucket }}"
    if dag_id == DAG_ID:  # the key resolve_input chose (an event's file, or the rendered input_key Param)
        assert sensor.upstream_task_ids == {"resolve_input"}
    else:
        assert "params.input_key" in sensor.bucket_key


@pytest.mark.parametrize("dag_id", [DAG_ID, SCORING_DAG_ID])
def test_every_param_is_typed_titled_described_and_bounded(dagbag, dag_id):
    params = dagbag.dags[dag_id].params
    assert {"bucket", "input_key", "sns_topic_arn", "wait_timeout_seconds"} <= set(params.keys())
    for name in params:
        param = params.get_param(name)
        schema = param.schema
        assert schema.get("type"), f"param {name} has no type"
        assert schema.get("title"), f"param {name} has no title"
        assert param.description, f"param {name} has no description"
        assert schema.get("section"), f"param {name} has no form section"
        if schema["type"] in ("number", "integer"):
            low = "minimum" if "minimum" in schema else "exclusiveMinimum"  # a value must be > 0, say
            assert low in schema and "maximum" in schema, f"param {name} has no bounds"
            above = schema[low] <= param.value if low == "minimum" else schema[low] < param.value
            assert above and param.value <= schema["maximum"], f"param {name}'s default is out of bounds"
    assert params["bucket"] == "bank-ml"


def test_training_params_are_typed_as_the_form_needs(dagbag):
    params = dagbag.dags[DAG_ID].params
    assert {"model_families", "cv_folds", "param_grids"} <= set(params.keys())
    assert params.get_param("model_families").schema["items"]["enum"] == [
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
    ]
    assert params["input_key"] == "banking.csv"
    # Optional: the form must accept null for "no overrides".
    assert set(params.get_param("param_grids").schema["type"]) == {"object", "null"}


def test_training_params_are_exactly_the_pipelines_params_with_their_defaults(dagbag):
    from include.bank_marketing import params as pipeline_params

    params = dagbag.dags[DAG_ID].params
    defaults = pipeline_params.defaults()
    assert list(params.keys()) == list(defaults)
    assert {name: params[name] for name in params} == defaults


def test_baseline_params_default_to_config(dagbag):
    from include.bank_marketing import config

    params = dagbag.dags[DAG_ID].params
    for name, value in config.BASELINES.items():
        assert params[f"baseline_{name}"] == value


def test_parsing_imports_no_heavy_libraries():
    """Importing a DAG file must not import pandas, scikit-learn and friends (parse time stays cheap).

    Both files in one fresh interpreter (importing Airflow is most of the cost), the heavy modules listed after
    each: a module the first file loaded would show up after the second too, so each file is judged in turn.
    """
    code = (
        "import json, runpy, sys\n"
        "loaded = {}\n"
        f"for name in {DAG_FILES!r}:\n"
        f"    runpy.run_path({str(DAGS_FOLDER)!r} + '/' + name)\n"
        f"    loaded[name] = [m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]\n"
        "print(json.dumps(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, env=_env())
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {name: [] for name in DAG_FILES}


def _env():
    # As under Airflow: the repository root (for include/) and the DAG folder (for bank_marketing_common).
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(DAGS_FOLDER)])}


def test_promotion_emits_the_champion_asset_that_schedules_scoring(dagbag):
    promote = dagbag.dags[DAG_ID].task_dict["promote"]
    [asset] = promote.outlets
    assert asset.uri == "s3://bank-ml/models/champion.json"
    scoring = dagbag.dags[SCORING_DAG_ID]
    timetable = scoring.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert asset.uri in str(timetable.asset_condition)
    assert set(scoring.task_ids) == {"wait_for_customers", "score", "notify"}


def test_new_files_are_watched_through_sqs_by_the_triggerer(dagbag):
    [asset] = dagbag.dags[DAG_ID].timetable.asset_condition.objects
    assert asset.uri == "s3://bank-ml/raw"  # Airflow normalizes the trailing slash away
    [watcher] = asset.watchers
    trigger = watcher.trigger
    assert (trigger.queue, trigger.bucket, trigger.prefix, trigger.suffix) == (
        "bank-ml-incoming",
        "bank-ml",
        "raw/",
        ".csv",
    )
    # resolve_input reads the asset's recent events and state store, one run at a time (claims never race).
    resolve = dagbag.dags[DAG_ID].task_dict["resolve_input"]
    assert [inlet.uri for inlet in resolve.inlets] == [asset.uri]
    assert resolve.max_active_tis_per_dag == 1
    # The triggerer re-creates the trigger from its serialized form: every argument must survive the trip.
    classpath, kwargs = trigger.serialize()
    assert classpath == "bank_marketing_triggers.S3ArrivalTrigger"
    assert type(trigger)(**kwargs).serialize() == (classpath, kwargs)
