"""Data quality: repeated rows, implausible values, rows shared by the two sides of the split, and results too
good to be true.

Rows are compared by a 64-bit hash of their feature values (``feature_keys``), computed on values made
comparable first: a categorical column hashes as the values it holds and every numeric column as float64, so
the training split (categories) and a frame read back from Parquet (text, integers) give the same keys for the
same rows. A leaked label shows as a single column that alone ranks the test rows' target almost perfectly
(``single_column_aucs``); ``suspicions`` turns that, and an implausible gain over the champion, into the
reasons a model is not promoted without a person.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from include.bank_marketing import config
from include.bank_marketing.contracts import ColumnQuality

# Shares and AUCs are reported with this many decimals.
DIGITS = 4


def _comparable(series: pd.Series) -> pd.Series:
    """The column's values in a dtype whose hash depends on the values only, not on how they are stored."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        # The categories' values, missing as NaN: float for numeric categories, object for text.
        series = pd.Series(np.asarray(series), index=series.index, name=series.name)
    if pd.api.types.is_numeric_dtype(series.dtype):
        # 5 (int64), 5.0 (float64) and 5 (Int64) hash differently; as float64 they are one value, and
        # pandas' NA becomes NaN.
        return pd.Series(series.to_numpy(dtype=float, na_value=np.nan), index=series.index, name=series.name)
    return series


def _keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    values = pd.DataFrame({c: _comparable(frame[c]) for c in columns}, index=frame.index)
    return pd.util.hash_pandas_object(values, index=False)


def feature_keys(frame: pd.DataFrame, features: list[str]) -> pd.Series:
    """One uint64 hash per row of the ``features`` columns: rows with equal feature values get equal keys,
    however the columns are stored (categorical or text, integer or float). Missing values compare equal."""
    return _keys(frame, list(features))


class Repeats(NamedTuple):
    """The repeated rows of a frame, found once (``find_repeats``) and then counted or dropped."""

    repeated: np.ndarray  # one bool per row: identical to an earlier row in every feature and the target
    conflicting: int  # rows whose features equal another row's while their targets differ

    @property
    def exact(self) -> int:
        """Rows identical to an earlier row (a file holding every row twice: half its rows)."""
        return int(self.repeated.sum())

    def counts(self) -> tuple[int, int]:
        """``(exact_rows, conflicting_rows)``."""
        return self.exact, self.conflicting

    def dropped_from(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (the one searched) without its repeated rows: the first of each set of identical rows is
        kept, in the original row order and with its ``row_id``, on a fresh 0..n-1 index."""
        return frame.loc[~self.repeated].reset_index(drop=True)


def find_repeats(frame: pd.DataFrame, features: list[str], target: str = config.TARGET) -> Repeats:
    """The rows of ``frame`` that repeat an earlier row, and the conflicting rows.

    A row repeats an earlier one when it is identical in every feature and the target. Conflicting rows are
    rows whose features equal another row's while their targets differ, each counted once after repeated
    rows are set aside (two rows with the same features, one a subscriber and one not, are 2). ``features``
    must not include ``row_id``, which differs on every row.
    """
    repeated = _keys(frame, [*features, target]).duplicated().to_numpy()
    groups = feature_keys(frame.loc[~repeated], features).to_numpy()
    # Within a group of identical features, distinct rows can only differ in the target, so a group of more
    # than one distinct row is a conflict.
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    return Repeats(repeated, int((sizes[inverse] > 1).sum()))


def _bounds(name: str, bounds: Mapping[str, tuple[float | None, float | None]]) -> list[float | None] | None:
    if name not in bounds:
        return None
    low, high = bounds[name]
    return [None if low is None else float(low), None if high is None else float(high)]


def _numeric_quality(name: str, series: pd.Series, limits: list[float | None] | None) -> ColumnQuality:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = values[~np.isnan(values)]
    distinct = int(np.unique(present).size)
    outside = 0
    if limits is not None:
        low, high = limits
        too_low = present < low if low is not None else np.zeros(present.size, dtype=bool)
        too_high = present > high if high is not None else np.zeros(present.size, dtype=bool)
        outside = int((too_low | too_high).sum())
    return {
        "column": name,
        "kind": "numeric",
        "missing_share": round(float(series.isna().mean()), DIGITS) if len(series) else 0.0,
        "distinct": distinct,
        "constant": distinct <= 1,
        "minimum": float(present.min()) if present.size else None,
        "maximum": float(present.max()) if present.size else None,
        "bounds": limits,
        "out_of_bounds": outside,
    }


def _categorical_quality(name: str, series: pd.Series) -> ColumnQuality:
    distinct = int(_comparable(series).nunique(dropna=True))
    return {
        "column": name,
        "kind": "categorical",
        # "unknown" is a category like any other: only empty cells count as missing.
        "missing_share": round(float(series.isna().mean()), DIGITS) if len(series) else 0.0,
        "distinct": distinct,
        "constant": distinct <= 1,
        "minimum": None,
        "maximum": None,
        # Plausible ranges are of numbers: a known numeric column that arrived as text is not compared.
        "bounds": None,
        "out_of_bounds": 0,
    }


def column_quality(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    bounds: Mapping[str, tuple[float | None, float | None]] = config.PLAUSIBLE_BOUNDS,
) -> list[ColumnQuality]:
    """One entry per column, the numeric ones first, each group in the order given: the share of empty
    cells, distinct values, whether the column is constant, and for numeric columns the range and the number
    of values outside ``bounds`` (inclusive limits; None is unbounded). Plain Python values, fit for JSON."""
    columns = [_numeric_quality(c, frame[c], _bounds(c, bounds)) for c in numeric]
    return columns + [_categorical_quality(c, frame[c]) for c in categorical]


def overlap_rows(train: pd.DataFrame, test: pd.DataFrame, features: list[str]) -> int:
    """Test rows whose feature values all equal those of some training row: a model may have memorised them,
    so its test score would flatter it."""
    seen = feature_keys(train, features).to_numpy()
    return int(np.isin(feature_keys(test, features).to_numpy(), seen).sum())


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    auc = float(roc_auc_score(y, score))
    # A column that ranks the target backwards tells as much about it as one that ranks it forwards.
    return round(max(auc, 1.0 - auc), DIGITS)


def _numeric_score(train: pd.Series, test: pd.Series) -> np.ndarray:
    known = pd.to_numeric(train, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    known = known[np.isfinite(known)]
    fill = float(np.median(known)) if known.size else 0.0
    score = pd.to_numeric(test, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # roc_auc_score refuses NaN and infinities; infinities keep their place at either end of the ranking.
    return np.nan_to_num(score, nan=fill)


def _categorical_score(train: pd.Series, train_y: pd.Series, test: pd.Series) -> np.ndarray:
    # Categories compared as the values they are, whether stored as categorical or as text.
    rates = train_y.groupby(_comparable(train).to_numpy(), dropna=True).mean()
    overall = float(train_y.mean()) if len(train_y) else 0.0
    score = _comparable(test).map(rates).to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(score), overall, score)


def single_column_aucs(
    train: pd.DataFrame,
    test: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    target: str = config.TARGET,
) -> dict[str, float]:
    """How well each column alone ranks the test rows' target, as ROC AUC folded above 0.5.

    A numeric column ranks by its values (missing ones at the training median); a categorical column by each
    category's subscriber rate on the training rows (unseen and missing categories at the overall rate), so
    nothing is learned from the test rows. A constant column scores 0.5; a copy of the label, or its
    opposite, scores 1.0. Empty when the test rows hold a single class (no AUC is defined).
    """
    y = test[target].to_numpy(dtype=int)
    if np.unique(y).size < 2:
        return {}
    train_y = train[target].astype(float)
    aucs = {c: _auc(y, _numeric_score(train[c], test[c])) for c in numeric}
    aucs.update({c: _auc(y, _categorical_score(train[c], train_y, test[c])) for c in categorical})
    return aucs


def leaked_columns(column_aucs: Mapping[str, float], leak_auc: float = config.LEAK_AUC) -> dict[str, float]:
    """The columns that alone rank the target with AUC >= ``leak_auc``, highest first."""
    leaked = [(c, float(a)) for c, a in column_aucs.items() if a >= leak_auc]
    return dict(sorted(leaked, key=lambda item: (-item[1], item[0])))


def suspicions(
    column_aucs: Mapping[str, float],
    challenger_auc: float,
    champion_auc: float | None,
    gain: float = config.SUSPICIOUS_GAIN,
    leak_auc: float = config.LEAK_AUC,
) -> list[str]:
    """Why the challenger's result looks too good to be true, one line per reason; empty when it does not.

    A column that alone ranks the target with AUC >= ``leak_auc`` (most likely a copy of the label, or a
    value known only after the call, like ``duration``), and a test AUC more than ``gain`` above the
    champion's on the same rows: real improvements of a mature model come in small steps.
    """
    reasons = [
        f"column {column!r} alone ranks the target with AUC {auc:.4f} (>= {leak_auc:g}): "
        "a copy of the label, or known only after the call?"
        for column, auc in leaked_columns(column_aucs, leak_auc).items()
    ]
    if champion_auc is not None and math.isfinite(champion_auc):
        above = challenger_auc - champion_auc
        # Rounded so that float noise in the subtraction (0.957 - 0.937 = 0.020000000000000018) does not
        # turn a gain of exactly ``gain`` into more than it.
        if round(above, 9) > gain:
            reasons.append(
                f"test AUC {challenger_auc:.4f} is {above:.4f} above the champion's {champion_auc:.4f} on the "
                f"same rows (more than suspicious_gain {gain:g})"
            )
    return reasons
