"""Reporting: the published artifacts of a run (model, model.json, metrics.json, new.csv) and text tables."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import pandas as pd

from include.bank_marketing import config, storage
from include.bank_marketing.layout import LATEST_PREDICTIONS_KEY, run_key, s3_uri
from include.bank_marketing.preprocessing import features_and_target

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
    if target_format == "yes/no":
        labels = {0: "no", 1: "yes"}
        out[config.TARGET] = out[config.TARGET].map(labels)
        out["predicted"] = out["predicted"].map(labels)
    return out


def publish_run(
    s3: Any,
    bucket: str,
    run_id: str,
    evaluation: dict[str, Any],
    test_uri: str,
    validated: dict[str, Any],
) -> dict[str, Any]:
    """Write the run's artifacts under ``runs/{run_id}/`` and the lab's ``new.csv``; return their URIs.

    The candidate pickle is verified (sha256) before it is loaded to score the test rows, then its very
    bytes are published as ``model.joblib``; ``model.json`` is written last, so a reader that finds it can
    trust the model beside it is complete.
    """
    data = storage.read_bytes(s3, evaluation["candidate_uri"])
    model = storage.load_model_bytes(data, evaluation["sha256"], source=evaluation["candidate_uri"])
    test = storage.read_parquet(s3, test_uri)
    x, _ = features_and_target(test)
    proba = model.predict_proba(x)[:, 1]
    threshold = evaluation["metrics"]["threshold"]
    csv_bytes = predictions_frame(test, proba, threshold, validated["target_format"]).to_csv(index=False).encode()

    uris = {
        "model_uri": s3_uri(bucket, run_key(run_id, "model.joblib")),
        "model_json_uri": s3_uri(bucket, run_key(run_id, "model.json")),
        "metrics_uri": s3_uri(bucket, run_key(run_id, "metrics.json")),
        "new_csv_uri": s3_uri(bucket, run_key(run_id, "new.csv")),
        "latest_new_csv_uri": s3_uri(bucket, LATEST_PREDICTIONS_KEY),
    }
    storage.write_bytes(s3, uris["model_uri"], data)
    storage.write_bytes(s3, uris["new_csv_uri"], csv_bytes, "text/csv")
    storage.write_bytes(s3, uris["latest_new_csv_uri"], csv_bytes, "text/csv")
    metrics_doc = {
        "run_id": run_id,
        "family": evaluation["family"],
        "metrics": evaluation["metrics"],
        "checks": evaluation["checks"],
        "verdict": evaluation["verdict"],
        "leaderboard": evaluation["leaderboard"],
    }
    storage.write_json(s3, uris["metrics_uri"], metrics_doc)
    storage.write_json(
        s3,
        uris["model_json_uri"],
        {
            "run_id": run_id,
            "created_at": datetime.now(UTC).isoformat(),
            "family": evaluation["family"],
            "params": evaluation["best_params"],
            "cv_auc": evaluation["cv_auc"],
            "threshold": threshold,
            "metrics": {k: evaluation["metrics"][k] for k in config.METRICS},
            "baselines": {k: c["baseline"] for k, c in evaluation["checks"].items()},
            "verdict": evaluation["verdict"],
            "model_uri": uris["model_uri"],
            "sha256": storage.sha256_hex(data),
            "model_bytes": len(data),
            "input": {
                "uri": validated["input_uri"],
                "sha256": validated["input_sha256"],
                "rows": validated["rows"],
                "numeric": validated["numeric"],
                "categorical": validated["categorical"],
                "target_format": validated["target_format"],
            },
            "libraries": library_versions(),
        },
    )
    return {**uris, "predictions_rows": len(test)}
