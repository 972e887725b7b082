"""publish: the predictions file, library versions and the published artifacts of a run."""

from __future__ import annotations

import io
import json
import platform
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sklearn

from include.bank_marketing import config, evaluation, layout, publish, storage
from include.bank_marketing.contracts import Artifacts
from tests.support.builders import (
    BUCKET,
    ECONOMICS,
    RUN_ID,
    SAFE_RUN_ID,
    ColumnProba,
    all_keys,
    get_body,
    threshold_keys,
)

DUPLICATES = {"policy": "drop", "exact_rows": 3, "conflicting_rows": 2, "dropped_rows": 3}


def held_out_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": [7, 3, 9, 1],
            "age": [30, 41, 52, 23],
            "p": [0.1, 0.5, 0.75, 0.4999999],
            "y": pd.Series([0, 1, 1, 0], dtype="int8"),
        }
    )


PROBA = np.array([0.1, 0.5, 0.75, 0.4999999])


def test_predictions_frame_maps_labels_back_to_yes_no():
    test = held_out_frame()

    out = publish.predictions_frame(test, PROBA, 0.5, "yes/no")

    assert list(out.columns) == ["row_id", "age", "p", "y", "predicted", "probability"]
    assert out["row_id"].tolist() == [7, 3, 9, 1]
    assert out["y"].tolist() == ["no", "yes", "yes", "no"]
    assert out["predicted"].tolist() == ["no", "yes", "yes", "no"]  # 0.5 itself is 'yes'
    assert out["probability"].tolist() == [0.1, 0.5, 0.75, 0.5]  # rounded to 6 places
    assert test["y"].tolist() == [0, 1, 1, 0]  # the input frame is not changed


def test_predictions_frame_keeps_0_1_for_a_1_0_input():
    out = publish.predictions_frame(held_out_frame(), PROBA, 0.5, "1/0")

    assert out["y"].tolist() == [0, 1, 1, 0]
    assert out["predicted"].tolist() == [0, 1, 1, 0]
    assert out["predicted"].dtype.kind == "i"


def test_predictions_frame_uses_the_threshold():
    out = publish.predictions_frame(held_out_frame(), PROBA, 0.7, "1/0")

    assert out["predicted"].tolist() == [0, 0, 1, 0]


def test_library_versions():
    versions = publish.library_versions()

    assert versions["python"] == platform.python_version()
    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["pandas"] == pd.__version__
    assert list(versions) == ["python", *publish.LIBRARIES]
    assert "not installed" not in versions.values()


def test_library_versions_marks_a_missing_library(monkeypatch):
    monkeypatch.setattr(publish, "LIBRARIES", ("scikit-learn", "no-such-lib-bank-ml"))

    assert publish.library_versions()["no-such-lib-bank-ml"] == "not installed"


# --- publish_run on S3 --------------------------------------------------------------------------------------


@pytest.fixture
def published(s3, run):
    test = held_out_frame()
    test_uri = storage.write_parquet(s3, run.uri(layout.TEST), test)
    train_uri = storage.write_parquet(s3, run.uri(layout.TRAIN), test)
    split = {
        "test_uri": test_uri,
        "train_uri": train_uri,
        "numeric": ["age", "p"],
        "categorical": [],
        "dropped": [],
        "overlap_rows": 0,
    }
    saved = storage.save_model(s3, run.uri(layout.candidate("random_forest")), ColumnProba("p"))
    metrics = evaluation.score(test["y"], PROBA)
    at_threshold = evaluation.score(test["y"], PROBA, 0.7)
    # As evaluate_candidates leaves them: the candidate's test scores under the run's prefix.
    scores = test[["row_id", "y"]].assign(probability=PROBA)
    scores_uri = storage.write_parquet(s3, run.uri(layout.TEST_SCORES), scores)
    checks = evaluation.compare_with_baselines(metrics, config.BASELINES)
    result = {
        "family": "random_forest",
        "best_params": {"max_depth": 12},
        "cv_auc": 0.91,
        "candidate_uri": saved["uri"],
        "sha256": saved["sha256"],
        "scores_uri": scores_uri,
        "metrics": metrics,
        # The chosen operating point, which new.csv's labels follow: the F1 one; the profit one is recorded.
        **threshold_keys(0.7, 0.2),
        "threshold_oof_f1": 0.5,
        "metrics_at_threshold": at_threshold,
        "checks": checks,
        "verdict": evaluation.verdict(checks).value,
        "leaderboard": [{"family": "random_forest", "cv_auc": 0.91, "fit_seconds": 1.0}],
    }
    validated = {
        "input_uri": f"s3://{BUCKET}/banking.csv",
        "input_sha256": "ab" * 32,
        "rows": 20,
        "duplicates": DUPLICATES,
        "quality_uri": run.uri(layout.QUALITY),
        "numeric": ["age", "p"],
        "categorical": [],
        "target_format": "yes/no",
    }
    uris = publish.publish_run(run, validated, split, result)
    return {
        "s3": s3,
        "run": run,
        "uris": uris,
        "result": result,
        "saved": saved,
        "validated": validated,
        "split": split,
    }


def test_publish_run_writes_every_artifact(published):
    s3, uris = published["s3"], published["uris"]
    prefix = f"s3://{BUCKET}/runs/{SAFE_RUN_ID}"

    assert uris == {
        "model_uri": f"{prefix}/model.joblib",
        "model_json_uri": f"{prefix}/model.json",
        "metrics_uri": f"{prefix}/metrics.json",
        "new_csv_uri": f"{prefix}/new.csv",
        "latest_new_csv_uri": f"s3://{BUCKET}/new.csv",
        "profile_uri": f"{prefix}/profile.json",
        "predictions_rows": 4,
    }
    assert set(uris) == Artifacts.__required_keys__
    profile = json.loads(get_body(s3, f"runs/{SAFE_RUN_ID}/profile.json"))
    assert set(profile["columns"]) == {"age", "p"} and profile["rows"] == 4
    assert "new.csv" in all_keys(s3)


def test_publish_run_publishes_the_very_candidate_bytes(published):
    s3 = published["s3"]
    candidate = get_body(s3, f"runs/{SAFE_RUN_ID}/candidates/random_forest.joblib")

    assert get_body(s3, f"runs/{SAFE_RUN_ID}/model.joblib") == candidate
    model_json = json.loads(get_body(s3, f"runs/{SAFE_RUN_ID}/model.json"))
    assert model_json["sha256"] == published["saved"]["sha256"] == storage.sha256_hex(candidate)
    assert model_json["model_bytes"] == len(candidate)


def test_publish_run_new_csv_has_yes_no_labels_and_is_also_the_latest(published):
    s3 = published["s3"]

    body = get_body(s3, f"runs/{SAFE_RUN_ID}/new.csv")

    assert get_body(s3, "new.csv") == body
    frame = pd.read_csv(io.BytesIO(body))
    assert frame["row_id"].tolist() == [7, 3, 9, 1]
    assert frame["y"].tolist() == ["no", "yes", "yes", "no"]
    assert frame["predicted"].tolist() == ["no", "no", "yes", "no"]  # at the chosen threshold 0.7, not 0.5
    assert frame["probability"].tolist() == [0.1, 0.5, 0.75, 0.5]


def test_publish_run_model_json_and_metrics_json(published):
    s3, result = published["s3"], published["result"]

    model_json = json.loads(get_body(s3, f"runs/{SAFE_RUN_ID}/model.json"))
    metrics_json = json.loads(get_body(s3, f"runs/{SAFE_RUN_ID}/metrics.json"))

    assert model_json["run_id"] == RUN_ID
    assert model_json["family"] == "random_forest"
    assert {k: model_json[k] for k in ("params", "threshold")} == {"params": {"max_depth": 12}, "threshold": 0.7}
    # Both rules' thresholds and what the profit one was chosen with: the scoring DAG may label at either.
    assert model_json["threshold_rule"] == "f1"
    assert model_json["thresholds"] == {"f1": 0.7, "profit": 0.2}
    assert model_json["economics"] == ECONOMICS
    assert model_json["metrics"] == {k: result["metrics"][k] for k in config.METRICS}
    assert model_json["metrics_at_threshold"] == {k: result["metrics_at_threshold"][k] for k in config.METRICS}
    assert model_json["cv_auc"] == pytest.approx(0.91)
    assert model_json["model_uri"] == published["uris"]["model_uri"]
    assert model_json["baselines"] == config.BASELINES
    assert model_json["verdict"] == result["verdict"]
    assert model_json["input"] == {
        "uri": f"s3://{BUCKET}/banking.csv",
        "sha256": "ab" * 32,
        "rows": 20,
        "numeric": ["age", "p"],
        "categorical": [],
        "dropped": [],
        "target_format": "yes/no",
        # What validate found and did (repeated rows dropped), where its profile is, and the split's overlap.
        "duplicates": DUPLICATES,
        "quality_uri": f"s3://{BUCKET}/runs/{SAFE_RUN_ID}/quality.json",
        "overlap_rows": 0,
    }
    assert model_json["libraries"]["scikit-learn"] == sklearn.__version__
    assert datetime.fromisoformat(model_json["created_at"]).utcoffset().total_seconds() == 0
    assert metrics_json["run_id"] == RUN_ID
    assert metrics_json["metrics"]["confusion_matrix"] == result["metrics"]["confusion_matrix"]
    assert metrics_json["verdict"] == result["verdict"]
    assert metrics_json["checks"] == result["checks"]
    assert metrics_json["leaderboard"] == result["leaderboard"]


def test_publish_run_refuses_a_tampered_candidate(s3, run):
    test_uri = storage.write_parquet(s3, f"s3://{BUCKET}/t.parquet", held_out_frame())
    split = {"test_uri": test_uri, "train_uri": test_uri, "numeric": ["age", "p"], "categorical": [], "dropped": []}
    saved = storage.save_model(s3, f"s3://{BUCKET}/c.joblib", ColumnProba("p"))
    s3.put_object(Bucket=BUCKET, Key="c.joblib", Body=storage.dump_model(ColumnProba("age")))
    result = {"candidate_uri": saved["uri"], "sha256": saved["sha256"], "threshold": 0.5}

    with pytest.raises(storage.IntegrityError):
        publish.publish_run(run, {"target_format": "yes/no"}, split, result)

    assert all_keys(s3) == ["c.joblib", "t.parquet"]  # nothing was published


def test_publish_run_refuses_scores_of_other_rows(published):
    s3, result, split = published["s3"], published["result"], published["split"]
    shuffled = held_out_frame().iloc[[1, 0, 2, 3]][["row_id", "y"]].assign(probability=PROBA)
    storage.write_parquet(s3, result["scores_uri"], shuffled)

    with pytest.raises(ValueError, match="does not score the rows of the test split"):
        publish.publish_run(published["run"], published["validated"], split, result)
