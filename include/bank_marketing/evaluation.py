"""Evaluation: pick the best family by CV AUC, score it on the held-out split, compare with the baselines."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from include.bank_marketing import campaign, config, families, layout, quality, registry, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import (
    Candidate,
    Check,
    Economics,
    Evaluation,
    Metrics,
    ScoredModel,
    Split,
    ThresholdRule,
    Verdict,
    metric_values,
)
from include.bank_marketing.params import TrainingSettings
from include.bank_marketing.preprocessing import features_and_target
from include.bank_marketing.training import MODEL_STEP, fold_jobs, in_threads

# Where the baselines were measured, and so where the verdict is taken.
VERDICT_THRESHOLD = 0.5


def select_best(candidates: list[Candidate]) -> Candidate:
    """The candidate with the highest CV AUC; ties go to the family listed first in ``families.SPECS``."""
    scored = [c for c in candidates if not math.isnan(c["cv_auc"])]  # NaN never compares, so drop it
    if not scored:
        raise ValueError(f"no trained candidate has a CV AUC to choose by: {[c['family'] for c in candidates]}")
    return max(scored, key=lambda c: (c["cv_auc"], -families.rank(c["family"])))


def score(y_true: Any, proba: Any, threshold: float = VERDICT_THRESHOLD) -> Metrics:
    """Test metrics of positive-class probabilities ``proba`` at ``threshold``."""
    y_true = np.asarray(y_true)
    pred = (np.asarray(proba) >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_true, pred, labels=[0, 1]).ravel())
    return {
        "auc": round(float(roc_auc_score(y_true, proba)), 4),
        "f1": round(float(f1_score(y_true, pred, zero_division=0)), 4),
        "precision": round(float(precision_score(y_true, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y_true, pred, zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(y_true, pred)), 4),
        "threshold": threshold,
        "rows": len(y_true),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "classification_report": classification_report(
            y_true, pred, labels=[0, 1], target_names=["no", "yes"], digits=3, zero_division=0
        ),
    }


def choose_thresholds(
    model: Any, train: Any, money: Economics, cv_folds: int = config.DEFAULT_CV_FOLDS
) -> dict[str, float]:
    """The decision thresholds of each ``ThresholdRule`` on out-of-fold predictions of the training split:
    maximum F1 (``"f1"``, and its F1 as ``"oof_f1"``) and maximum expected profit (``"profit"``).

    The winning pipeline's settings are refitted on each training fold (``clone``: unfitted, same params) and
    predict the held-out fold, so no threshold sees the test split nor rows a model was fitted on. Both rules
    read the same predictions: the second threshold costs no fit.
    """
    x, y = features_and_target(train)
    folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=config.RANDOM_STATE)
    # The folds fit as the grid search's do: side by side for a single-threaded model, else one after another.
    jobs = fold_jobs(families.of_estimator(getattr(model, "named_steps", {}).get(MODEL_STEP)))
    with in_threads():
        oof = cross_val_predict(clone(model), x, y, cv=folds, method="predict_proba", n_jobs=jobs)[:, 1]
    precision, recall, thresholds = precision_recall_curve(y, oof)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1]))  # the last point (recall 0) has no threshold
    by_profit, _ = campaign.profit_threshold(y, oof, money)
    profit_cut = round(by_profit, 4)
    if by_profit > float(np.max(oof)) >= profit_cut:  # no call pays: rounded down, the cut would call the top rows
        profit_cut = round(by_profit + 1e-4, 4)
    return {
        ThresholdRule.F1.value: round(float(thresholds[best]), 4),
        ThresholdRule.PROFIT.value: profit_cut,
        "oof_f1": round(float(f1[best]), 4),
    }


def compare_with_baselines(metrics: Metrics, baselines: dict[str, float]) -> dict[str, Check]:
    """Each metric that has a baseline beside it, in ``config.METRICS`` order."""
    values = metric_values(metrics)
    return {
        name: {"value": values[name], "baseline": baselines[name], "passed": values[name] >= baselines[name]}
        for name in config.METRICS
        if name in baselines
    }


def verdict(checks: dict[str, Check], suspicions: list[str] | None = None) -> Verdict:
    """The run's verdict, the pipeline's one rule for it: BELOW_BASELINE if a metric is below its baseline,
    else SUSPICIOUS if the result looks too good to be true (``quality.suspicions``), else PASS (so no
    baselines at all is a PASS: nothing was required)."""
    if not all(c["passed"] for c in checks.values()):
        return Verdict.BELOW_BASELINE
    return Verdict.SUSPICIOUS if suspicions else Verdict.PASS


def failed_checks(checks: dict[str, Check]) -> list[str]:
    """Names of the metrics below their baseline."""
    return [name for name, c in checks.items() if not c["passed"]]


def evaluate_candidates(
    run: RunContext, split: Split, candidates: list[Candidate], settings: TrainingSettings
) -> Evaluation:
    """Choose the best candidate, score it (sha256-verified) on the test split, compare with the baselines
    and with the current champion re-scored on the same rows. The test scores are written beside the split.

    Baselines are compared at threshold 0.5, where the original lab's figures were measured; the F1- and
    profit-maximising thresholds are chosen on training folds and reported beside them, the one of
    ``settings.threshold_rule`` being the operating point.
    """
    best = select_best(candidates)
    model = storage.load_model(run.s3, best["model_uri"], best["sha256"])
    test = storage.read_parquet(run.s3, split["test_uri"])
    x, y = features_and_target(test)
    proba = model.predict_proba(x)[:, 1]
    # The test scores, once: publish (new.csv) and the report read them instead of unpickling and predicting again.
    scores = test[[config.ROW_ID, config.TARGET]].assign(probability=proba)
    scores_uri = storage.write_parquet(run.s3, run.uri(layout.TEST_SCORES), scores)
    metrics = score(y, proba)
    train = storage.read_parquet(run.s3, split["train_uri"])
    chosen = choose_thresholds(model, train, settings.economics, settings.cv_folds)
    # What each column alone says of the target: a copy of the label shows as a column with AUC near 1.
    column_aucs = quality.single_column_aucs(train, test, split["numeric"], split["categorical"])
    del train
    champion, etag = registry.read_champion(run.s3, run.bucket)
    against = registry.score_champion(run.s3, champion, test) if champion else None
    champion_auc = against.auc if against else None
    suspicions = quality.suspicions(column_aucs, metrics["auc"], champion_auc, settings.suspicious_gain)
    thresholds = {rule.value: chosen[rule.value] for rule in ThresholdRule}
    threshold = thresholds[settings.threshold_rule]
    checks = compare_with_baselines(metrics, settings.baselines)
    scored: ScoredModel = {
        "family": best["family"],
        "best_params": best["best_params"],
        "cv_auc": best["cv_auc"],
        "candidate_uri": best["model_uri"],
        "sha256": best["sha256"],
        "scores_uri": scores_uri,
        "metrics": metrics,
        "threshold": threshold,
        "threshold_rule": settings.threshold_rule,
        "thresholds": thresholds,
        "threshold_oof_f1": chosen["oof_f1"],
        "economics": settings.economics,
        "metrics_at_threshold": score(y, proba, threshold),
        "checks": checks,
        "verdict": verdict(checks, suspicions).value,
        "leaderboard": [
            {"family": c["family"], "cv_auc": c["cv_auc"], "fit_seconds": c["fit_seconds"]}
            for c in sorted(candidates, key=lambda c: -c["cv_auc"])
        ],
        "leaked_columns": quality.leaked_columns(column_aucs),
        "suspicions": suspicions,
    }
    return {**scored, "decision": registry.decision_against(scored, against, etag, settings.promotion_margin)}
