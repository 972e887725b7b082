"""Builders the unit tests share (not fixtures): the test bucket and run id, CSV bytes, a stand-in model, a
synthetic validated frame, and direct boto3 reads that bypass the code under test."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

BUCKET = "bank-ml"
RUN_ID = "manual__2026-11-28T05:34:00+00:00"
# What layout.run_prefix makes of RUN_ID: '+' is not kept in keys.
SAFE_RUN_ID = "manual__2026-11-28T05:34:00_00:00"


def csv_bytes(header: list[str], rows: list[list[object]], delimiter: str = ";", newline: str = "\n") -> bytes:
    """CSV bytes of ``header`` and ``rows`` (values written with ``str``; ``None`` is a blank cell)."""
    lines = [delimiter.join(header)]
    lines += [delimiter.join("" if v is None else str(v) for v in row) for row in rows]
    return (newline.join(lines) + newline).encode()


class ColumnProba(ClassifierMixin, BaseEstimator):
    """A stand-in model whose positive-class probability is the value of one input column.

    A module-level class of an importable module, so that joblib pickles it by reference
    (``tests.support.builders.ColumnProba``) and ``storage.load_model`` can load it back. A scikit-learn
    estimator whose ``fit`` learns nothing: evaluation's threshold search clones and refits it on training folds,
    and its out-of-fold scores are then the column itself.
    """

    def __init__(self, column: str = "p") -> None:
        self.column = column

    def fit(self, x: pd.DataFrame, y) -> ColumnProba:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = x[self.column].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def get_body(client, key: str, bucket: str = BUCKET) -> bytes:
    """Raw bytes of an object, read with boto3 directly (not through the code under test)."""
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def all_keys(client, bucket: str = BUCKET) -> list[str]:
    """Every key of the bucket, sorted, listed with boto3 directly."""
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def synthetic_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A validated-looking frame (row_id, two numeric, one categorical, y as int8) with a clear signal."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2.5 * x1 + 2.0 * (color == "red") - 1.0
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype("int8")
    return pd.DataFrame(
        {
            "row_id": np.arange(1, n + 1),
            "x1": x1,
            "count": rng.integers(0, 50, size=n).astype("int64"),
            "color": pd.Series(color, dtype="str"),
            "y": y,
        }
    )
