"""Scoring: the champion model labels a file of customers (same columns as the training data, no ``y``) and
lists whom to call, best first."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from include.bank_marketing import campaign, config, registry, storage
from include.bank_marketing.contracts import Champion, Economics, ScoringResult, ThresholdRule
from include.bank_marketing.layout import CALL_LIST_NAME, CHAMPION_KEY, PREDICTIONS_NAME, s3_uri
from include.bank_marketing.params import AS_PUBLISHED, economics
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


def sibling_key(input_key: str, name: str) -> str:
    """Key of file ``name`` beside the input: ``scoring/2026-11-28/customers.csv`` and ``call_list.csv`` give
    ``scoring/2026-11-28/call_list.csv``."""
    folder = input_key.rsplit("/", 1)[0] + "/" if "/" in input_key else ""
    return folder + name


def predictions_key(input_key: str) -> str:
    """``predictions.csv`` beside the input: ``scoring/2026-11-28/customers.csv`` gives
    ``scoring/2026-11-28/predictions.csv``."""
    return sibling_key(input_key, PREDICTIONS_NAME)


def champion_threshold(champion: Champion, rule: str) -> tuple[float, str]:
    """The champion's threshold for ``rule`` (a ``ThresholdRule`` value, or ``AS_PUBLISHED``) and the rule.

    A pointer written before profit thresholds existed holds the F1 threshold only: it serves ``as_published``
    and ``f1``, and ``profit`` is an error that says so.
    """
    published = champion.get("threshold_rule", ThresholdRule.F1.value)
    if rule == AS_PUBLISHED:
        return float(champion["threshold"]), published
    rule = ThresholdRule(rule).value
    thresholds = champion.get("thresholds") or {ThresholdRule.F1.value: champion["threshold"]}
    if rule not in thresholds:
        raise InputError(
            f"champion {champion['run_id']} has no {rule} threshold (it predates them): retrain, or score with f1"
        )
    return float(thresholds[rule]), rule


def call_list(
    customers: pd.DataFrame, proba: Any, money: Economics, threshold: float, top_k: int | None
) -> pd.DataFrame:
    """The customers to call, best first: every one at or above ``threshold``, or the ``top_k`` most likely.

    Columns: the customer's, then ``probability``, ``rank`` (1 = call first; ties keep the file's order) and
    ``expected_value`` (value x probability - cost: what the call is worth on average).
    """
    scored = customers.assign(probability=np.asarray(proba, dtype=float))
    chosen = (
        scored.nlargest(top_k, "probability", keep="first") if top_k else scored[scored["probability"] >= threshold]
    )
    ranked = chosen.sort_values("probability", ascending=False, kind="stable").reset_index(drop=True)
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    ranked["expected_value"] = campaign.expected_value(ranked["probability"], money).round(2)
    ranked["probability"] = ranked["probability"].round(6)
    return ranked


def score_object(
    s3: Any,
    bucket: str,
    key: str,
    rule: str = AS_PUBLISHED,
    top_k: int | None = None,
    chunk_rows: int = config.SCORING_CHUNK_ROWS,
) -> ScoringResult:
    """Score ``s3://bucket/key`` with the champion (sha256-verified); write ``predictions.csv`` (every customer,
    labelled at the champion's threshold of ``rule``) and ``call_list.csv`` (whom to call, best first: those
    at or above that threshold, or the ``top_k`` most likely) beside it.

    Returns a small summary for XCom and the alert, with the expected subscriptions and profit of the calls.
    """
    champion, _ = registry.read_champion(s3, bucket)
    if champion is None:
        raise InputError(f"no champion in {s3_uri(bucket, CHAMPION_KEY)}: train and promote a model first")
    meta = storage.read_json(s3, champion["model_json_uri"])
    model = storage.load_model(s3, champion["model_uri"], champion["sha256"])
    threshold, rule = champion_threshold(champion, rule)
    money: Economics = champion.get("economics") or economics(config.COST_PER_CALL, config.VALUE_PER_SUBSCRIPTION)
    data = storage.read_bytes(s3, s3_uri(bucket, key))
    out_key, calls_key = predictions_key(key), sibling_key(key, CALL_LIST_NAME)
    labels = output_labels(meta["input"]["target_format"])
    rows = positives = 0
    callable_rows: list[pd.DataFrame] = []  # each chunk's candidates for the call list, not every row
    # Chunk by chunk into a temporary file, uploaded from disk: memory holds one chunk, whatever the file's size,
    # and the call list's candidates (at most top_k rows, or the rows above the threshold).
    with tempfile.TemporaryFile() as out:
        for chunk in customer_chunks(data, meta["input"]["numeric"], meta["input"]["categorical"], chunk_rows):
            proba = model.predict_proba(chunk)[:, 1]
            predicted = proba >= threshold
            scored = chunk.assign(probability=proba)
            if top_k:  # the running best top_k (earlier chunks first on ties), so memory stays bounded by top_k rows
                callable_rows = [pd.concat([*callable_rows, scored]).nlargest(top_k, "probability", keep="first")]
            else:
                callable_rows.append(scored[predicted])
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
    candidates = pd.concat(callable_rows)  # customer_chunks yields at least one chunk, or raises
    calls = call_list(candidates.drop(columns="probability"), candidates["probability"], money, threshold, top_k)
    storage.write_bytes(s3, s3_uri(bucket, calls_key), calls.to_csv(index=False).encode(), "text/csv")
    expected = float(calls["probability"].sum())
    return {
        "input_uri": s3_uri(bucket, key),
        "predictions_uri": s3_uri(bucket, out_key),
        "rows": rows,
        "positives": positives,
        "positive_share": round(positives / rows, 4),
        "threshold": threshold,
        "threshold_rule": rule,
        "champion_run_id": champion["run_id"],
        "family": champion["family"],
        "call_list_uri": s3_uri(bucket, calls_key),
        "calls": len(calls),
        "expected_subscriptions": round(expected, 1),
        "expected_profit": round(float(campaign.profit(expected, len(calls), money)), 2),
        "economics": money,
    }
