"""Reporting: the published artifacts of a run (model, model.json, metrics.json, new.csv) and text tables."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import pandas as pd

from include.bank_marketing import config, drift, storage
from include.bank_marketing.layout import LATEST_PREDICTIONS_KEY, parse_s3_uri, run_key, s3_uri

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
    split: dict[str, Any],
    validated: dict[str, Any],
) -> dict[str, Any]:
    """Write the run's artifacts under ``runs/{run_id}/`` and the lab's ``new.csv``; return their URIs.

    The candidate pickle's bytes are verified (sha256) and published as ``model.joblib`` as they are (not
    unpickled: evaluation already scored the test rows with it); ``model.json`` is written last, so a reader
    that finds it can trust the model beside it is complete.
    """
    data = storage.verify_bytes(
        storage.read_bytes(s3, evaluation["candidate_uri"]), evaluation["sha256"], evaluation["candidate_uri"],
        action="publish",
    )  # fmt: skip
    test = storage.read_parquet(s3, split["test_uri"])
    proba = _test_probabilities(s3, evaluation, test[config.ROW_ID])
    threshold = evaluation["threshold"]  # the chosen operating point
    csv_bytes = predictions_frame(test, proba, threshold, validated["target_format"]).to_csv(index=False).encode()

    uris = {
        "model_uri": s3_uri(bucket, run_key(run_id, "model.joblib")),
        "model_json_uri": s3_uri(bucket, run_key(run_id, "model.json")),
        "metrics_uri": s3_uri(bucket, run_key(run_id, "metrics.json")),
        "new_csv_uri": s3_uri(bucket, run_key(run_id, "new.csv")),
        "latest_new_csv_uri": s3_uri(bucket, LATEST_PREDICTIONS_KEY),
        "profile_uri": s3_uri(bucket, run_key(run_id, "profile.json")),
    }
    # The training rows' profile: what later runs' drift checks compare with if this model is promoted.
    train = storage.read_parquet(s3, split["train_uri"])
    storage.write_json(s3, uris["profile_uri"], drift.profile(train, split["numeric"], split["categorical"]))
    del train
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
            "metrics_at_threshold": {k: evaluation["metrics_at_threshold"][k] for k in config.METRICS},
            "baselines": {k: c["baseline"] for k, c in evaluation["checks"].items()},
            "verdict": evaluation["verdict"],
            "model_uri": uris["model_uri"],
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
            },
            "libraries": library_versions(),
        },
    )
    return {**uris, "predictions_rows": len(test)}


def evaluation_scores(s3: Any, evaluation: dict[str, Any]) -> pd.DataFrame:
    """The winning model's test scores (``row_id``, ``y``, ``probability``) written by evaluation."""
    return storage.read_parquet(s3, evaluation["scores_uri"])


def _test_probabilities(s3: Any, evaluation: dict[str, Any], row_ids: pd.Series) -> Any:
    """The scores' probabilities in the order of ``row_ids``, checked to be the same rows."""
    scores = evaluation_scores(s3, evaluation)
    if not scores[config.ROW_ID].equals(row_ids.reset_index(drop=True)):
        raise ValueError(f"{evaluation['scores_uri']} does not score the rows of the test split, in their order")
    return scores["probability"].to_numpy()


PRESIGN_SECONDS = 7 * 24 * 3600  # links in the report and the alert stay valid for a week


def presign(s3: Any, uri: str, seconds: int = PRESIGN_SECONDS) -> str | None:
    """A presigned HTTPS GET URL for ``uri``, or None when the client cannot sign (e.g. no credentials)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3_uri(uri)
    try:
        return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)
    except (BotoCoreError, ClientError):
        return None


def build_report(
    s3: Any,
    bucket: str,
    run_id: str,
    dag_id: str,
    evaluation: dict[str, Any],
    artifacts: dict[str, Any],
    split: dict[str, Any],
    validated: dict[str, Any],
    drift_check: dict[str, Any],
    decision: dict[str, Any],
    candidates: list[dict[str, Any]],
) -> dict[str, Any]:
    """Charts (PNG) and the self-contained ``report.html`` of a run, under ``runs/{run_id}/``.

    Returns the report's S3 URI, its presigned URL (None when the connection cannot sign) and the charts' URIs.
    """
    from include.bank_marketing import report

    scores = evaluation_scores(s3, evaluation)
    y, proba = scores[config.TARGET], scores["probability"].to_numpy()
    threshold = evaluation["threshold"]
    at_threshold = evaluation["metrics_at_threshold"]
    grid = [
        {"family": c["family"], "params": g["params"], "cv_auc": g["cv_auc"]}
        for c in candidates
        for g in c.get("grid_results", [])
    ]
    images = report.charts(y, proba, threshold, grid)
    chart_uris = {
        name: storage.write_bytes(s3, s3_uri(bucket, run_key(run_id, name)), data, "image/png")
        for name, data in images.items()
    }
    drift_doc = storage.read_json(s3, drift_check["drift_uri"]) if drift_check.get("max_psi") is not None else None
    report_uri = s3_uri(bucket, run_key(run_id, "report.html"))
    linked = {k.removesuffix("_uri"): v for k, v in artifacts.items() if k.endswith("_uri")}
    linked.update({"drift": drift_check["drift_uri"], "report": report_uri})
    context = {
        "run_id": run_id,
        "dag_id": dag_id,
        "created_at": datetime.now(UTC).isoformat(),
        "family": evaluation["family"],
        "params": evaluation["best_params"],
        "cv_auc": evaluation["cv_auc"],
        "threshold": threshold,
        "metrics": {
            "at_0_5": {k: evaluation["metrics"][k] for k in config.METRICS},
            "at_threshold": {k: at_threshold[k] for k in config.METRICS},
        },
        "baselines": {k: c["baseline"] for k, c in evaluation["checks"].items()},
        "champion": {
            "run_id": decision.get("champion_run_id"),
            "auc": decision.get("champion_auc"),
            "decision": "promoted" if decision["promote"] else "kept_champion",
            "reason": decision["reason"],
        },
        "data": {
            "input_uri": validated["input_uri"],
            "rows": validated["rows"],
            "class_counts": validated["class_counts"],
            "numeric": split["numeric"],
            "categorical": split["categorical"],
            "dropped": split["dropped"],
        },
        "drift": {**drift_doc, "summary": drift_check["summary"]} if drift_doc else None,
        "artifacts": {name: {"uri": uri, "url": presign(s3, uri)} for name, uri in linked.items()},
    }
    storage.write_bytes(s3, report_uri, report.html(context, images).encode(), "text/html; charset=utf-8")
    return {"report_uri": report_uri, "report_url": presign(s3, report_uri), "chart_uris": chart_uris}
