"""Model monitor: drift of an incoming file against the champion's training data, by population stability index.

``profile`` summarises a training frame into a small JSON-able reference (bin edges and shares per column) that
is stored beside the model, so later runs never need the training rows themselves. ``compare`` bins an incoming
frame the same way and scores each column with ``psi``; ``summary`` turns the result into one alert line.

Numeric bins are right-closed: with cut points ``c1 < ... < ck`` the bins are ``(-inf, c1], (c1, c2], ...,
(ck, inf)``, so any value, however far outside the training range, falls in a bin and no infinities need
writing to JSON. Missing values (and, in a numeric column, values that are not numbers) have a bin of their
own in every column; in categorical columns so do categories the reference never saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from include.bank_marketing import config, layout, registry, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import DriftCheck, ValidatedInput

DEFAULT_BINS = config.DRIFT_BINS
PSI_THRESHOLD = config.DRIFT_PSI_THRESHOLD  # the usual "significant shift" level
# Floor of a share inside the logarithm of PSI: an empty bin would otherwise make the index infinite.
PSI_EPS = 1e-4
# Bumped if the layout of a stored profile changes, so an old profile is rejected rather than misread.
PROFILE_VERSION = 1


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = PSI_EPS) -> float:
    """Population stability index of two share vectors over the same bins (shares clipped at eps).

    ``sum((a - e) * ln(a / e))`` over the bins, after raising every share below ``eps`` to ``eps``; the shares
    are not renormalised after clipping. 0 for identical vectors; above 0.2 is usually read as a real shift.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError(f"share vectors must be 1-D and of equal length; got {e.shape} and {a.shape}")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    e = np.clip(e, eps, None)
    a = np.clip(a, eps, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _as_numbers(series: pd.Series) -> np.ndarray:
    # A reference numeric column may arrive as text in a later file (validation then classes it categorical):
    # text becomes NaN and so counts in the missing bin, which is what makes such a column drift.
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _as_text(series: pd.Series) -> pd.Series:
    # A reference categorical column may arrive holding numbers only; compare its values as the text they are
    # (pandas 3's str dtype keeps missing values missing).
    return series.astype("str")


def _cut_points(values: np.ndarray, bins: int) -> list[float]:
    """Interior cut points from the quantiles of the finite ``values``, so each bin is non-empty in them."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or bins < 2:
        return []
    probs = np.arange(1, bins) / bins
    # inverted_cdf picks data values, never points between them: with right-closed bins each bin then holds at
    # least its upper cut point, so no reference bin is empty however lumpy the column (pdays is 82 % -1).
    cuts = np.unique(np.quantile(finite, probs, method="inverted_cdf"))
    # A cut at the maximum would leave the last, open-ended bin empty.
    cuts = cuts[cuts < finite.max()]
    return [float(c) for c in cuts]


def _numeric_shares(values: np.ndarray, cuts: Sequence[float]) -> tuple[list[float], float]:
    """Share of all rows in each bin of ``cuts`` (``len(cuts) + 1`` of them) and the share of missing rows."""
    n = values.size
    missing = np.isnan(values)
    # side="left" returns i with cuts[i-1] < x <= cuts[i]: the right-closed bins; ±inf land in the end bins.
    index = np.searchsorted(np.asarray(cuts, dtype=float), values[~missing], side="left")
    counts = np.bincount(index, minlength=len(cuts) + 1)
    return [float(c) / n for c in counts], float(missing.sum()) / n


def _category_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Rows per category (as text) and the number of missing rows."""
    text = _as_text(series)
    counts = text.value_counts(dropna=True)
    return {str(k): int(v) for k, v in counts.items()}, int(text.isna().sum())


def profile(frame: pd.DataFrame, numeric: list[str], categorical: list[str], bins: int = DEFAULT_BINS) -> dict:
    """Reference profile of a training frame, small enough to store as JSON beside the model.

    Numeric columns get fixed cut points from the frame's quantiles (deduplicated, with open-ended first and last
    bins so any value falls in a bin) and the share of rows in each bin, missing values counted in a share of
    their own. Categorical columns get the share of each category, most common first, and the missing share.
    Shares are of all rows, so each column's shares (missing included) add up to 1. Layout::

        {"version": 1, "rows": 45211, "bins": 10, "columns": {
            "age": {"kind": "numeric", "edges": [29.0, ...], "shares": [0.11, ...], "missing_share": 0.002},
            "job": {"kind": "categorical", "shares": {"blue-collar": 0.22, ...}, "missing_share": 0.0006}}}

    ``edges`` are the interior cut points only: the bins are ``(-inf, e1], (e1, e2], ..., (ek, inf)``.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    overlap = sorted(set(numeric) & set(categorical))
    if overlap:
        raise ValueError(f"columns listed as both numeric and categorical: {', '.join(overlap)}")
    absent = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if absent:
        raise ValueError(f"columns not in the frame: {', '.join(absent)}")
    if frame.empty:
        raise ValueError("cannot profile a frame with no rows")
    n = len(frame)
    columns: dict[str, dict[str, Any]] = {}
    for col in numeric:
        values = _as_numbers(frame[col])
        cuts = _cut_points(values, bins)
        shares, missing_share = _numeric_shares(values, cuts)
        columns[col] = {"kind": "numeric", "edges": cuts, "shares": shares, "missing_share": missing_share}
    for col in categorical:
        counts, missing = _category_counts(frame[col])
        columns[col] = {
            "kind": "categorical",
            "shares": {k: v / n for k, v in counts.items()},
            "missing_share": missing / n,
        }
    return {"version": PROFILE_VERSION, "rows": n, "bins": bins, "columns": columns}


def _numeric_psi(spec: dict[str, Any], series: pd.Series) -> dict[str, Any]:
    shares, missing_share = _numeric_shares(_as_numbers(series), spec["edges"])
    expected = [*spec["shares"], spec["missing_share"]]
    return {"kind": "numeric", "psi": psi(expected, [*shares, missing_share])}


def _categorical_psi(spec: dict[str, Any], series: pd.Series) -> dict[str, Any]:
    n = len(series)
    counts, missing = _category_counts(series)
    known: dict[str, float] = spec["shares"]
    unseen = sum(v for k, v in counts.items() if k not in known)
    # Bins: the reference's categories, missing, then every unseen category pooled (expected share 0).
    expected = [*known.values(), spec["missing_share"], 0.0]
    actual = [*(counts.get(k, 0) / n for k in known), missing / n, unseen / n]
    return {"kind": "categorical", "psi": psi(expected, actual), "unseen_share": unseen / n}


def compare(reference: dict, frame: pd.DataFrame, threshold: float = PSI_THRESHOLD) -> dict:
    """Drift of ``frame`` against a reference profile (from ``profile``, or its JSON read back).

    PSI per numeric column over the reference's fixed bins plus the missing bin; PSI per categorical column over
    the reference's categories, the missing bin and one bin for unseen categories; and per categorical column
    the share of rows whose category the reference never saw. Columns of ``frame`` the reference does not know
    are ignored; reference columns absent from ``frame`` are listed in ``missing_columns``. Returns::

        {"threshold", "rows", "reference_rows",
         "columns": {col: {"kind", "psi", "unseen_share" (categorical only)}},
         "drifted": [{"column", "psi"}, ...] (PSI > threshold, largest first), "max_psi" (None if no column),
         "missing_columns": [...]}
    """
    version = reference.get("version")
    if version != PROFILE_VERSION:
        raise ValueError(f"unsupported drift profile version {version!r}; expected {PROFILE_VERSION}")
    if frame.empty:
        raise ValueError("cannot compare a frame with no rows")
    columns: dict[str, dict[str, Any]] = {}
    missing_columns: list[str] = []
    for col, spec in reference["columns"].items():
        if col not in frame.columns:
            missing_columns.append(col)
        elif spec["kind"] == "numeric":
            columns[col] = _numeric_psi(spec, frame[col])
        elif spec["kind"] == "categorical":
            columns[col] = _categorical_psi(spec, frame[col])
        else:
            raise ValueError(f"column {col!r} of the profile has unknown kind {spec['kind']!r}")
    drifted = sorted(
        ({"column": col, "psi": res["psi"]} for col, res in columns.items() if res["psi"] > threshold),
        key=lambda d: (-d["psi"], d["column"]),
    )
    return {
        "threshold": float(threshold),
        "rows": len(frame),
        "reference_rows": int(reference["rows"]),
        "columns": columns,
        "drifted": drifted,
        "max_psi": max((res["psi"] for res in columns.values()), default=None),
        "missing_columns": missing_columns,
    }


def _fmt_psi(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


def summary(result: dict) -> str:
    """One line for an alert, e.g. ``no drift (max PSI 0.013 < 0.2)`` or
    ``drift in 2 columns: duration PSI 0.41, month PSI 0.25 (threshold 0.2)``.

    Reference columns missing from the file are appended (``; missing from the file: balance``): a column that
    is gone cannot be checked, which an alert should say.
    """
    threshold = f"{result['threshold']:g}"
    drifted = result["drifted"]
    if drifted:
        parts = ", ".join(f"{d['column']} PSI {_fmt_psi(d['psi'], 2)}" for d in drifted)
        noun = "column" if len(drifted) == 1 else "columns"
        line = f"drift in {len(drifted)} {noun}: {parts} (threshold {threshold})"
    elif result["max_psi"] is None:
        line = "no drift (no columns compared)"
    else:
        # Drift is PSI strictly above the threshold, so a maximum equal to it is still no drift.
        relation = "<" if result["max_psi"] < result["threshold"] else "<="
        line = f"no drift (max PSI {_fmt_psi(result['max_psi'], 3)} {relation} {threshold})"
    if result["missing_columns"]:
        line += f"; missing from the file: {', '.join(result['missing_columns'])}"
    return line


def check_object(run: RunContext, validated: ValidatedInput, threshold: float = PSI_THRESHOLD) -> DriftCheck:
    """Compare this run's validated rows with the champion's training profile; write ``drift.json``.

    Returns a small summary for XCom and the alert. Without a champion (or one trained before profiles
    were stored) there is nothing to compare with, which ``drift.json`` and the summary say.
    """
    champion, _ = registry.read_champion(run.s3, run.bucket)
    profile_uri = champion.get("profile_uri") if champion else None
    if not profile_uri:
        result: dict[str, Any] = {"threshold": threshold, "drifted": [], "max_psi": None, "columns": {}}
        result["summary"] = "no champion to compare with"
    else:
        reference = storage.read_json(run.s3, profile_uri)
        result = compare(reference, storage.read_parquet(run.s3, validated["validated_uri"]), threshold)
        result["summary"] = summary(result)
    result["champion_run_id"] = champion["run_id"] if champion else None
    return {
        "drift_uri": storage.write_json(run.s3, run.uri(layout.DRIFT), result),
        "summary": result["summary"],
        "drifted": result["drifted"],
        "max_psi": result["max_psi"],
        "threshold": threshold,
        "champion_run_id": result["champion_run_id"],
    }
