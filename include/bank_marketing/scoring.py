"""Scoring: the champion model labels a file of customers (same columns as the training data, no ``y``)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from include.bank_marketing import registry, storage
from include.bank_marketing.layout import s3_uri
from include.bank_marketing.validation import InputError, detect_delimiter

PREDICTIONS_NAME = "predictions.csv"


def read_customers(data: bytes, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Parse a customers CSV (``;`` or ``,``) and type its columns as the champion was trained.

    Every feature column the model uses must be present; other columns (an id, or ``y`` if someone left it)
    are kept and passed through. A numeric column holding text is an error naming the column and value.
    """
    if not data.strip():
        raise InputError("customers file is empty; expected a header row and one row per customer")
    header = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip("\r")
    delimiter = detect_delimiter(header)
    frame = pd.read_csv(
        io.BytesIO(data), sep=delimiter, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
    )
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise InputError(f"customers file lacks the model's columns: {', '.join(missing)}")
    if frame.empty:
        raise InputError("customers file has a header but no rows")
    for col in numeric:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = frame[col].notna() & values.isna()
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(f"column {col!r} must be numeric; found {frame[col].iloc[first]!r} at line {first + 2}")
        frame[col] = values
    for col in categorical:
        frame[col] = frame[col].str.strip()
    return frame


def predictions_key(input_key: str) -> str:
    """``predictions.csv`` beside the input: ``scoring/2026-11-28/customers.csv`` gives
    ``scoring/2026-11-28/predictions.csv``."""
    folder = input_key.rsplit("/", 1)[0] + "/" if "/" in input_key else ""
    return folder + PREDICTIONS_NAME


def score_object(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    """Score ``s3://bucket/key`` with the champion (sha256-verified) and write ``predictions.csv`` beside it.

    Labels use the champion's stored decision threshold. Returns a small summary for XCom and the alert.
    """
    champion, _ = registry.read_champion(s3, bucket)
    if champion is None:
        raise InputError(f"no champion in s3://{bucket}/models/champion.json: train and promote a model first")
    meta = storage.read_json(s3, champion["model_json_uri"])
    model = storage.load_model(s3, champion["model_uri"], champion["sha256"])
    frame = read_customers(
        storage.read_bytes(s3, s3_uri(bucket, key)), meta["input"]["numeric"], meta["input"]["categorical"]
    )
    proba = model.predict_proba(frame)[:, 1]
    threshold = float(champion["threshold"])
    out = frame.assign(
        probability=pd.Series(proba, index=frame.index).round(6), predicted=(proba >= threshold).astype(int)
    )
    if meta["input"].get("target_format") == "yes/no":
        out["predicted"] = out["predicted"].map({0: "no", 1: "yes"})
    uri = storage.write_bytes(s3, s3_uri(bucket, predictions_key(key)), out.to_csv(index=False).encode(), "text/csv")
    positives = int((proba >= threshold).sum())
    return {
        "input_uri": s3_uri(bucket, key),
        "predictions_uri": uri,
        "rows": len(out),
        "positives": positives,
        "positive_share": round(positives / len(out), 4),
        "threshold": threshold,
        "champion_run_id": champion["run_id"],
        "family": champion["family"],
    }
