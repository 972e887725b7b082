"""Scoring: the champion model labels a file of customers (same columns as the training data, no ``y``)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import Any

import pandas as pd

from include.bank_marketing import config, registry, storage
from include.bank_marketing.contracts import ScoringResult
from include.bank_marketing.layout import CHAMPION_KEY, PREDICTIONS_NAME, s3_uri
from include.bank_marketing.validation import InputError, detect_delimiter, output_labels


def customer_chunks(
    data: bytes, numeric: list[str], categorical: list[str], chunk_rows: int = config.SCORING_CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """Parse a customers CSV (``;`` or ``,``) ``chunk_rows`` rows at a time, each chunk typed as the champion
    was trained, so scoring holds one chunk's frame, not the whole file's.

    Every feature column the model uses must be present; other columns (an id, or ``y`` if someone left it)
    are kept and passed through. A numeric column holding text is an error naming the column, value and line.
    """
    if not data.strip():
        raise InputError("customers file is empty; expected a header row and one row per customer")
    header = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip("\r")
    delimiter = detect_delimiter(header)
    reader = pd.read_csv(
        io.BytesIO(data),
        sep=delimiter,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        encoding="utf-8-sig",
        chunksize=chunk_rows,
    )
    first_line = 2  # of the current chunk, in the file (line 1 is the header)
    with reader:
        for i, frame in enumerate(reader):
            frame.columns = [c.strip() for c in frame.columns]
            missing = [c for c in [*numeric, *categorical] if c not in frame.columns] if i == 0 else []
            if missing:
                raise InputError(f"customers file lacks the model's columns: {', '.join(missing)}")
            if frame.empty:  # a header without rows comes as one empty chunk
                continue
            for col in numeric:
                values = pd.to_numeric(frame[col], errors="coerce")
                bad = frame[col].notna() & values.isna()
                if bad.any():
                    at = int(bad.to_numpy().nonzero()[0][0])
                    raise InputError(
                        f"column {col!r} must be numeric; found {frame[col].iloc[at]!r} at line {first_line + at}"
                    )
                frame[col] = values
            for col in categorical:
                frame[col] = frame[col].str.strip()
            first_line += len(frame)
            yield frame
    if first_line == 2:
        raise InputError("customers file has a header but no rows")


def read_customers(data: bytes, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The whole customers file as one typed frame (see ``customer_chunks``)."""
    return pd.concat(customer_chunks(data, numeric, categorical), ignore_index=True)


def predictions_key(input_key: str) -> str:
    """``predictions.csv`` beside the input: ``scoring/2026-11-28/customers.csv`` gives
    ``scoring/2026-11-28/predictions.csv``."""
    folder = input_key.rsplit("/", 1)[0] + "/" if "/" in input_key else ""
    return folder + PREDICTIONS_NAME


def score_object(s3: Any, bucket: str, key: str, chunk_rows: int = config.SCORING_CHUNK_ROWS) -> ScoringResult:
    """Score ``s3://bucket/key`` with the champion (sha256-verified) and write ``predictions.csv`` beside it.

    Labels use the champion's stored decision threshold. Returns a small summary for XCom and the alert.
    """
    champion, _ = registry.read_champion(s3, bucket)
    if champion is None:
        raise InputError(f"no champion in {s3_uri(bucket, CHAMPION_KEY)}: train and promote a model first")
    meta = storage.read_json(s3, champion["model_json_uri"])
    model = storage.load_model(s3, champion["model_uri"], champion["sha256"])
    threshold = float(champion["threshold"])
    data = storage.read_bytes(s3, s3_uri(bucket, key))
    out_key = predictions_key(key)
    labels = output_labels(meta["input"]["target_format"])
    rows = positives = 0
    # Chunk by chunk into a temporary file, uploaded from disk: memory holds one chunk, whatever the file's size.
    with tempfile.TemporaryFile() as out:
        for chunk in customer_chunks(data, meta["input"]["numeric"], meta["input"]["categorical"], chunk_rows):
            proba = model.predict_proba(chunk)[:, 1]
            predicted = proba >= threshold
            labelled = chunk.assign(
                probability=pd.Series(proba, index=chunk.index).round(6), predicted=predicted.astype(int)
            )
            if labels:
                labelled["predicted"] = labelled["predicted"].map(labels)
            labelled.to_csv(out, header=rows == 0, index=False, encoding="utf-8")
            rows += len(chunk)
            positives += int(predicted.sum())
        out.seek(0)
        s3.upload_fileobj(out, bucket, out_key, ExtraArgs={"ContentType": "text/csv"})
    return {
        "input_uri": s3_uri(bucket, key),
        "predictions_uri": s3_uri(bucket, out_key),
        "rows": rows,
        "positives": positives,
        "positive_share": round(positives / rows, 4),
        "threshold": threshold,
        "champion_run_id": champion["run_id"],
        "family": champion["family"],
    }
