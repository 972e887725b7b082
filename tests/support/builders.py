"""Builders the unit tests share (not fixtures): the test bucket and run id, CSV bytes, a stand-in model, a
synthetic validated frame, direct boto3 reads that bypass the code under test, and the operating point's keys
and campaign summary that hand-made evaluation results and run results carry."""

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


# --- the operating point and the campaign (issue 14) ---------------------------------------------------------

# The Params' default economics (config.COST_PER_CALL, config.VALUE_PER_SUBSCRIPTION): break-even at 5 %.
ECONOMICS = {"cost_per_call": 5.0, "value_per_subscription": 100.0}


def threshold_keys(f1: float, profit: float | None = None, rule: str = "f1", economics: dict | None = None) -> dict:
    """The keys of an evaluate_candidates result (ScoredModel / Evaluation) about its operating point: both
    rules' ``thresholds`` (``profit`` defaults to the F1 one), the ``threshold_rule``, ``threshold`` =
    thresholds[rule] and the ``economics`` the profit threshold was chosen with (default: the Params')."""
    thresholds = {"f1": f1, "profit": f1 if profit is None else profit}
    return {
        "threshold": thresholds[rule],
        "threshold_rule": rule,
        "thresholds": thresholds,
        "economics": dict(economics or ECONOMICS),
    }


def campaign_summary(rule: str = "f1", **changes) -> dict:
    """A CampaignSummary as explain_for_campaign returns it for 9,043 test rows at the default economics: the
    top 10/20/30 % reach 41/62/75 % of the subscribers, the f1 threshold 0.3 and the profit threshold 0.0712
    (``rule`` chooses which is the operating point, listed first), then top-level keys replaced by ``changes``."""
    profits = {
        # 100 x 560 - 5 x 1,000 = 51,000 on 9,043 rows: 5,639.72 per 1,000
        "f1": {"rule": "f1", "threshold": 0.3, "calls": 1000, "subscribers": 560, "profit": 51000.0,
               "profit_per_1000": 5639.72},
        # 100 x 880 - 5 x 2,600 = 75,000: 8,293.71 per 1,000
        "profit": {"rule": "profit", "threshold": 0.0712, "calls": 2600, "subscribers": 880, "profit": 75000.0,
                   "profit_per_1000": 8293.71},
    }  # fmt: skip
    summary = {
        "campaign_uri": "s3://bank-ml/runs/r/campaign.json",
        "economics": dict(ECONOMICS),
        "threshold_rule": rule,
        "gains": [
            {"share_called": 0.1, "share_reached": 0.41, "lift": 4.1},
            {"share_called": 0.2, "share_reached": 0.62, "lift": 3.1},
            {"share_called": 0.3, "share_reached": 0.75, "lift": 2.5},
        ],
        "profit": [profits[rule], *(p for r, p in profits.items() if r != rule)],
        "top_columns": ["duration", "poutcome", "month"],
        "compared_with": "logistic_regression",
    }
    summary.update(changes)
    return summary
