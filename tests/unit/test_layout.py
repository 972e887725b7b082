"""layout: key templates, run prefixes and s3:// URIs."""

from __future__ import annotations

import pytest

from include.bank_marketing import layout
from include.bank_marketing.context import TRAINING_DAG_ID, RunContext

RUN_ID = "manual__2026-11-28T05:34:00+00:00"


def test_render_key_fills_in_ds():
    assert layout.render_key("raw/{{ ds }}/banking.csv", ds="2026-11-28") == "raw/2026-11-28/banking.csv"


def test_render_key_uses_every_variable_given():
    key = layout.render_key("in/{{ ds_nodash }}/{{ run_id }}.csv", ds="2026-11-28", ds_nodash="20261128", run_id="r1")

    assert key == "in/20261128/r1.csv"


def test_render_key_keeps_a_plain_key_and_strips_spaces_and_leading_slashes():
    assert layout.render_key("banking.csv") == "banking.csv"
    assert layout.render_key("  /raw/{{ ds }}.csv  ", ds="d") == "raw/d.csv"


def test_render_key_names_a_missing_ds():
    with pytest.raises(ValueError, match=r"'ds' is undefined") as info:
        layout.render_key("raw/{{ ds }}/banking.csv", run_id=RUN_ID)

    assert "raw/{{ ds }}/banking.csv" in str(info.value)


def test_render_key_names_ds_when_the_run_has_none():
    with pytest.raises(ValueError, match="ds"):
        layout.render_key("raw/{{ ds }}/banking.csv", ds=None, ds_nodash=None, run_id=RUN_ID)


def test_render_key_with_none_is_fine_when_the_template_does_not_use_it():
    assert layout.render_key("banking.csv", ds=None, run_id=RUN_ID) == "banking.csv"


def test_render_key_rejects_a_template_syntax_error():
    with pytest.raises(ValueError, match="not a valid template"):
        layout.render_key("raw/{{ ds /banking.csv", ds="2026-11-28")


@pytest.mark.parametrize("template", ["", "   ", "/", "{{ empty }}"])
def test_render_key_rejects_an_empty_key(template):
    with pytest.raises(ValueError, match="renders to an empty key"):
        layout.render_key(template, empty="")


def test_run_prefix_replaces_plus_and_keeps_the_rest():
    prefix = layout.run_prefix(RUN_ID)

    assert prefix == "runs/manual__2026-11-28T05:34:00_00:00"
    assert "+" not in prefix


def test_run_prefix_replaces_every_unsafe_character():
    assert layout.run_prefix("a b/c?d%e+f") == "runs/a_b_c_d_e_f"
    assert layout.run_prefix("scheduled__2026-01-01T00:00:00=x.y") == "runs/scheduled__2026-01-01T00:00:00=x.y"


def test_run_key_and_rejected_prefix():
    assert layout.run_key(RUN_ID, "model.joblib") == "runs/manual__2026-11-28T05:34:00_00:00/model.joblib"
    assert layout.rejected_prefix(RUN_ID) == "rejected/manual__2026-11-28T05:34:00_00:00"


@pytest.mark.parametrize(("bucket", "key"), [("bank-ml", "banking.csv"), ("b.1", "runs/x/data/train.parquet")])
def test_s3_uri_round_trip(bucket, key):
    uri = layout.s3_uri(bucket, key)

    assert uri == f"s3://{bucket}/{key}"
    assert layout.parse_s3_uri(uri) == (bucket, key)


@pytest.mark.parametrize("uri", ["bank-ml/banking.csv", "s3://bank-ml", "http://bank-ml/banking.csv", "S3://b/k", ""])
def test_parse_s3_uri_rejects_non_s3_uris(uri):
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        layout.parse_s3_uri(uri)


def test_latest_predictions_key_is_the_labs_new_csv():
    assert layout.LATEST_PREDICTIONS_KEY == "new.csv"


def test_latest_predictions_and_scoring_names():
    assert layout.PREDICTIONS_NAME == "predictions.csv"
    assert layout.CHAMPION_KEY == "models/champion.json"


def test_history_key_is_one_per_run():
    assert layout.history_key(RUN_ID) == "models/history/manual__2026-11-28T05:34:00_00:00.json"


def test_artifact_names_of_a_run():
    names = {
        layout.VALIDATED: "validated.parquet",
        layout.DRIFT: "drift.json",
        layout.TRAIN: "data/train.parquet",
        layout.TEST: "data/test.parquet",
        layout.TEST_SCORES: "data/test_scores.parquet",
        layout.MODEL: "model.joblib",
        layout.MODEL_JSON: "model.json",
        layout.METRICS: "metrics.json",
        layout.NEW_CSV: "new.csv",
        layout.PROFILE: "profile.json",
        layout.REPORT: "report.html",
    }

    assert list(names) == list(names.values())
    assert len(set(names)) == len(names)  # no two artifacts share a key


def test_candidate_names_one_pickle_per_family():
    assert layout.candidate("random_forest") == "candidates/random_forest.joblib"
    assert layout.candidate("logistic_regression") != layout.candidate("random_forest")


# --- RunContext -------------------------------------------------------------------------------------------


def test_run_context_uri_is_under_the_runs_safe_prefix():
    run = RunContext(s3=None, bucket="bank-ml", run_id=RUN_ID)

    assert run.uri(layout.MODEL) == "s3://bank-ml/runs/manual__2026-11-28T05:34:00_00:00/model.joblib"
    assert run.uri(layout.candidate("random_forest")) == layout.s3_uri(
        "bank-ml", layout.run_key(RUN_ID, "candidates/random_forest.joblib")
    )


def test_run_context_bucket_uri_is_outside_the_run_prefix():
    run = RunContext(s3=None, bucket="b.1", run_id=RUN_ID)

    assert run.bucket_uri(layout.CHAMPION_KEY) == "s3://b.1/models/champion.json"
    assert run.bucket_uri("raw/2026-11-28/banking.csv") == "s3://b.1/raw/2026-11-28/banking.csv"


def test_run_context_defaults_to_the_training_dag_and_is_frozen():
    import dataclasses

    run = RunContext(s3=None, bucket="bank-ml", run_id="r")

    assert run.dag_id == TRAINING_DAG_ID == "bank_marketing_training"
    assert RunContext(None, "bank-ml", "r", dag_id="other").dag_id == "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.run_id = "other"  # type: ignore[misc]
