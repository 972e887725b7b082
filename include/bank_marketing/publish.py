"""Publish: the run's artifacts (model.joblib, model.json, metrics.json, profile.json, new.csv) under its prefix."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import pandas as pd

from include.bank_marketing import config, drift, layout, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import Artifacts, Evaluation, ScoredModel, Split, ValidatedInput, metric_values
from include.bank_marketing.validation import output_labels

LIBRARIES = ("scikit-learn", "pandas", "numpy", "joblib", "pyarrow")


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a pickle depends on (to load it, use the same ones)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def predictions_frame(test: pd.DataFrame, proba: Any, threshold: float, target_format: str) -> pd.DataFrame:
    """The test rows with ``y``, the predicted label and the probability, labelled as in the input file."""
    out = test.copy()
    out["predicted"] = (proba >= threshold).astype(int)
    out["probability"] = pd.Series(proba, index=out.index).round(6)
    labels = output_labels(target_format)
    if labels:
        out[config.TARGET] = out[config.TARGET].map(labels)
        out["predicted"] = out["predicted"].map(labels)
    return out


def publish_run(run: RunContext, validated: ValidatedInput, split: Split, evaluation: Evaluation) -> Artifacts:
    """Write the run's artifacts under ``runs/{run_id}/`` and the lab's ``new.csv``; return their URIs.

    The candidate pickle's bytes are verified (sha256) and published as ``model.joblib`` as they are (not
    unpickled: evaluation already scored the test rows with it); ``model.json`` is written last, so a reader
    that finds it can trust the model beside it is complete.
    """
    s3 = run.s3
    source = evaluation["candidate_uri"]
    data = storage.verify_bytes(storage.read_bytes(s3, source), evaluation["sha256"], source, action="publish")
    test = storage.read_parquet(s3, split["test_uri"])
    proba = _test_probabilities(s3, evaluation, test[config.ROW_ID])
    threshold = evaluation["threshold"]  # the chosen operating point
    csv_bytes = predictions_frame(test, proba, threshold, validated["target_format"]).to_csv(index=False).encode()

    artifacts: Artifacts = {
        "model_uri": run.uri(layout.MODEL),
        "model_json_uri": run.uri(layout.MODEL_JSON),
        "metrics_uri": run.uri(layout.METRICS),
        "new_csv_uri": run.uri(layout.NEW_CSV),
        "latest_new_csv_uri": run.bucket_uri(layout.LATEST_PREDICTIONS_KEY),
        "profile_uri": run.uri(layout.PROFILE),
        "predictions_rows": len(test),
    }
    # The training rows' profile: what later runs' drift checks compare with if this model is promoted.
    train = storage.read_parquet(s3, split["train_uri"])
    storage.write_json(s3, artifacts["profile_uri"], drift.profile(train, split["numeric"], split["categorical"]))
    del train
    storage.write_bytes(s3, artifacts["model_uri"], data)
    storage.write_bytes(s3, artifacts["new_csv_uri"], csv_bytes, "text/csv")
    storage.write_bytes(s3, artifacts["latest_new_csv_uri"], csv_bytes, "text/csv")
    metrics_doc = {
        "run_id": run.run_id,
        "family": evaluation["family"],
        "metrics": evaluation["metrics"],
        "checks": evaluation["checks"],
        "verdict": evaluation["verdict"],
        "leaderboard": evaluation["leaderboard"],
    }
    storage.write_json(s3, artifacts["metrics_uri"], metrics_doc)
    storage.write_json(
        s3,
        artifacts["model_json_uri"],
        {
            "run_id": run.run_id,
            "created_at": datetime.now(UTC).isoformat(),
            "family": evaluation["family"],
            "params": evaluation["best_params"],
            "cv_auc": evaluation["cv_auc"],
            "threshold": threshold,
            "threshold_rule": evaluation["threshold_rule"],
            # Both rules' thresholds, chosen on out-of-fold training predictions; the scoring DAG may use either.
            "thresholds": evaluation["thresholds"],
            "economics": evaluation["economics"],
            "metrics": metric_values(evaluation["metrics"]),
            "metrics_at_threshold": metric_values(evaluation["metrics_at_threshold"]),
            "baselines": {k: c["baseline"] for k, c in evaluation["checks"].items()},
            "verdict": evaluation["verdict"],
            "suspicions": evaluation.get("suspicions", []),
            "model_uri": artifacts["model_uri"],
            "sha256": storage.sha256_hex(data),
            "model_bytes": len(data),
            "input": {
                "uri": validated["input_uri"],
                "sha256": validated["input_sha256"],
                "rows": validated["rows"],
                "numeric": split["numeric"],  # the model's features (validated columns less any dropped)
                "categorical": split["categorical"],
                "dropped": split["dropped"],
                "target_format": validated["target_format"],
                "duplicates": validated.get("duplicates"),
                "quality_uri": validated.get("quality_uri"),
                # Test rows whose features are also a training row's: 0 unless the split went wrong.
                "overlap_rows": split.get("overlap_rows"),
            },
            "libraries": library_versions(),
        },
    )
    return artifacts


def evaluation_scores(s3: Any, evaluation: ScoredModel) -> pd.DataFrame:
    """The winning model's test scores (``row_id``, ``y``, ``probability``) written by evaluation."""
    return storage.read_parquet(s3, evaluation["scores_uri"])


def _test_probabilities(s3: Any, evaluation: ScoredModel, row_ids: pd.Series) -> Any:
    """The scores' probabilities in the order of ``row_ids``, checked to be the same rows."""
    scores = evaluation_scores(s3, evaluation)
    if not scores[config.ROW_ID].equals(row_ids.reset_index(drop=True)):
        raise ValueError(f"{evaluation['scores_uri']} does not score the rows of the test split, in their order")
    return scores["probability"].to_numpy()
