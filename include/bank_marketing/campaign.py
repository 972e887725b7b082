"""For the campaign: whom to call and why. Gains and lift, the profit of calling, calibration and permutation
importance of the input columns, on the test rows; and the profit-maximising threshold, chosen on training folds.

The pure functions take labels ``y`` (0/1) and positive-class probabilities ``p``; ``explain_for_campaign`` is
the stage: it computes them for the run's winning model, writes ``campaign.json`` (from which the report draws
the campaign charts) and returns the figures the report and the SNS message quote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from include.bank_marketing import config, layout, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import (
    CalibrationCurve,
    CampaignCurves,
    CampaignSummary,
    Candidate,
    ColumnImportance,
    Economics,
    Evaluation,
    GainsAt,
    ProfitAt,
    ProfitCurve,
    RankingCurve,
    Split,
    ThresholdRule,
)
from include.bank_marketing.preprocessing import features_and_target

# The family the gains chart compares the model's ranking with: the original lab's model.
LAB_FAMILY = "logistic_regression"
# Share-called steps of the gains and lift curves (0 %, 1 %, ..., 100 %).
CURVE_POINTS = 101
CALIBRATION_BINS = 10
# Permutation importance scores at most this many test rows per shuffle: the time goes into predicting
# (16 columns x IMPORTANCE_REPEATS predictions of the whole pipeline; 2.7 s here against 4.4 s on all
# 9,043 test rows of banking.csv), and 4,000 rows rank its columns in the same order.
IMPORTANCE_ROWS = 4000


def expected_value(p: Any, money: Economics) -> Any:
    """The expected value of calling a customer of probability ``p``: value x p - cost."""
    return money["value_per_subscription"] * np.asarray(p, dtype=float) - money["cost_per_call"]


def profit(subscribers: Any, calls: Any, money: Economics) -> Any:
    """Expected profit of ``calls`` calls that reach ``subscribers`` subscribers: value x subscribers - cost x calls."""
    return money["value_per_subscription"] * np.asarray(subscribers) - money["cost_per_call"] * np.asarray(calls)


def _ranked(y: Any, p: Any) -> tuple[Any, Any]:
    """Labels and probabilities, best-ranked first (ties in their original order)."""
    y, p = np.asarray(y).astype(int).ravel(), np.asarray(p, dtype=float).ravel()
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    order = np.argsort(-p, kind="stable")
    return y[order], p[order]


def profit_threshold(y: Any, p: Any, money: Economics) -> tuple[float, float]:
    """The threshold that maximises the expected profit of calling every row whose probability is >= it,
    and that profit, on these rows. A threshold calls all rows tied at it. When no call pays (every profit
    is negative), the threshold lies just above the highest probability: nobody is called, profit 0."""
    ys, ps = _ranked(y, p)
    if len(ys) == 0:
        raise ValueError("no rows to choose a threshold on")
    gains = profit(np.cumsum(ys), np.arange(1, len(ys) + 1), money)
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]  # a threshold can only cut between different scores
    candidates = np.flatnonzero(last_of_tie)
    best = candidates[int(np.argmax(gains[candidates]))]
    if gains[best] <= 0:
        return float(np.nextafter(ps[0], np.inf)), 0.0
    return float(ps[best]), float(gains[best])


def profit_at(y: Any, p: Any, threshold: float, rule: str, money: Economics) -> ProfitAt:
    """Calling every row whose probability is >= ``threshold``: the calls, subscribers reached and profit."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    called = p >= threshold
    calls, subscribers = int(called.sum()), int(y[called].sum())
    value = float(profit(subscribers, calls, money))
    return {
        "rule": rule,
        "threshold": round(float(threshold), 4),
        "calls": calls,
        "subscribers": subscribers,
        "profit": round(value, 2),
        "profit_per_1000": round(1000 * value / max(len(y), 1), 2),
    }


def gains_curve(y: Any, p: Any, label: str, points: int = CURVE_POINTS) -> RankingCurve:
    """Cumulative gains: calling the best-ranked share of the rows reaches this share of the positives."""
    ys, _ = _ranked(y, p)
    n, positives = len(ys), int(ys.sum())
    shares = np.linspace(0, 1, points)
    # Rows called at each share (0 at 0 %); rounded first, so that 7 % of 100 rows is 7, not ceil(7.000000000000001).
    called = np.ceil(np.round(shares * n, 6)).astype(int)
    reached = np.r_[0, np.cumsum(ys)][called] / positives if positives else np.zeros(points)
    return {
        "label": label,
        "share_called": [round(float(s), 4) for s in shares],
        "share_reached": [round(float(r), 4) for r in reached],
    }


def gains_at(y: Any, p: Any, shares: Sequence[float] = config.GAINS_SHARES) -> list[GainsAt]:
    """Share of the positives reached, and the lift, by calling the best-ranked ``shares`` of the rows."""
    ys, _ = _ranked(y, p)
    positives = max(int(ys.sum()), 1)
    rows: list[GainsAt] = []
    for share in shares:
        called = math.ceil(round(share * len(ys), 6))  # 0.3 x 10 is 3.0000000000000004: 3 rows, not 4
        reached = float(ys[:called].sum()) / positives
        rows.append({"share_called": share, "share_reached": round(reached, 4), "lift": round(reached / share, 2)})
    return rows


def profit_curve(y: Any, p: Any, money: Economics, marks: Sequence[float] = (), points: int = 201) -> ProfitCurve:
    """Expected profit of calling every row whose probability is >= each of ``points`` thresholds in 0..1, and
    at each of ``marks`` (the rules' thresholds: the chart reads their profit off the curve exactly)."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    thresholds = np.union1d(np.linspace(0, 1, points), np.asarray(marks, dtype=float))
    order = np.argsort(p)
    sorted_p, positives_below = p[order], np.r_[0, np.cumsum(y[order])]
    below = np.searchsorted(sorted_p, thresholds, side="left")  # rows with p < threshold
    calls = len(p) - below
    subscribers = positives_below[-1] - positives_below[below]
    return {
        "threshold": [round(float(t), 6) for t in thresholds],
        "calls": [int(c) for c in calls],
        "subscribers": [int(s) for s in subscribers],
        "profit": [round(float(v), 2) for v in profit(subscribers, calls, money)],
    }


def calibration(y: Any, p: Any, bins: int = CALIBRATION_BINS) -> CalibrationCurve:
    """The reliability curve on quantile bins of the probability (each bin about as many rows)."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, max(len(edges) - 2, 0))
    curve: CalibrationCurve = {"mean_predicted": [], "observed": [], "rows": []}
    for b in range(max(len(edges) - 1, 1)):
        members = index == b
        if members.any():
            curve["mean_predicted"].append(round(float(p[members].mean()), 4))
            curve["observed"].append(round(float(y[members].mean()), 4))
            curve["rows"].append(int(members.sum()))
    return curve


def importance(
    model: Any, x: Any, y: Any, repeats: int = config.IMPORTANCE_REPEATS, rows: int = IMPORTANCE_ROWS
) -> list[ColumnImportance]:
    """Permutation importance of every input column of ``x`` (scikit-learn's ``permutation_importance``,
    scored by ROC AUC): the drop in AUC when the column's values are shuffled, mean and spread over
    ``repeats`` shuffles of at most ``rows`` rows; largest first, ties by name."""
    from sklearn.inspection import permutation_importance

    # One prediction at a time: each is multi-threaded itself (boosting, forests), and the pipeline's encoders
    # hold the GIL, so the columns side by side in threads measured slower (6.7 s against 5.8 s for 5 shuffles).
    result = permutation_importance(
        model,
        x,
        y,
        scoring="roc_auc",
        n_repeats=repeats,
        random_state=config.RANDOM_STATE,
        n_jobs=1,
        max_samples=min(rows, len(x)),
    )
    columns: list[ColumnImportance] = [
        {"column": str(c), "mean": round(float(m), 4), "std": round(float(s), 4)}
        for c, m, s in zip(x.columns, result.importances_mean, result.importances_std, strict=True)
    ]
    return sorted(columns, key=lambda c: (-c["mean"], c["column"]))


def explain_for_campaign(
    run: RunContext, split: Split, candidates: list[Candidate], result: Evaluation
) -> CampaignSummary:
    """The campaign figures of the run's winning model on the test rows: gains and lift (beside the lab's
    family's ranking when it was trained and did not win), the profit of both thresholds and its curve,
    calibration and permutation importance. Writes ``campaign.json`` under the run's prefix; the report draws
    its charts from it (``charts.render_campaign``), beside its own, in one process that has matplotlib.

    Both pickles are verified against their recorded sha256 before loading.
    """
    money, rule = result["economics"], result["threshold_rule"]
    scores = storage.read_parquet(run.s3, result["scores_uri"])  # evaluate's test scores: not predicted again
    y, p = scores[config.TARGET].to_numpy(), scores["probability"].to_numpy()
    test = storage.read_parquet(run.s3, split["test_uri"])
    x, y_test = features_and_target(test)
    rankings = [gains_curve(y, p, "model")]
    lab = next((c for c in candidates if c["family"] == LAB_FAMILY and result["family"] != LAB_FAMILY), None)
    if lab is not None:
        lab_model = storage.load_model(run.s3, lab["model_uri"], lab["sha256"])
        rankings.append(gains_curve(y_test, lab_model.predict_proba(x)[:, 1], LAB_FAMILY))
    model = storage.load_model(run.s3, result["candidate_uri"], result["sha256"])
    ranked = importance(model, x, y_test)
    curves: CampaignCurves = {
        "rows": len(y),
        "positives": int(y.sum()),
        "economics": money,
        "threshold_rule": rule,
        "thresholds": result["thresholds"],
        "rankings": rankings,
        "profit": profit_curve(y, p, money, list(result["thresholds"].values())),
        "calibration": calibration(y, p),
        "importance": ranked,
        "importance_repeats": config.IMPORTANCE_REPEATS,
    }
    campaign_uri = storage.write_json(run.s3, run.uri(layout.CAMPAIGN), curves)
    rules = [rule, *(r.value for r in ThresholdRule if r.value != rule)]  # the operating point's rule first
    return {
        "campaign_uri": campaign_uri,
        "economics": money,
        "threshold_rule": rule,
        "gains": gains_at(y, p),
        "profit": [profit_at(y, p, result["thresholds"][r], r, money) for r in rules],
        "top_columns": [c["column"] for c in ranked[: config.TOP_COLUMNS]],
        "compared_with": lab["family"] if lab else None,
    }


__all__ = [
    "LAB_FAMILY",
    "calibration",
    "expected_value",
    "explain_for_campaign",
    "gains_at",
    "gains_curve",
    "importance",
    "profit",
    "profit_at",
    "profit_curve",
    "profit_threshold",
]
