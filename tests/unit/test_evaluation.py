"""evaluation: choosing the best candidate, test metrics and the baseline verdict."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from include.bank_marketing import campaign, config, evaluation, layout, storage
from include.bank_marketing.contracts import Evaluation, Verdict
from include.bank_marketing.params import TrainingSettings, defaults
from tests.support.builders import BUCKET, ECONOMICS, SAFE_RUN_ID, ColumnProba

SETTINGS = TrainingSettings.from_params(defaults(BUCKET))

# --- select_best ----------------------------------------------------------------------------------------


def cand(family: str, cv_auc: float) -> dict:
    return {"family": family, "cv_auc": cv_auc}


def test_select_best_picks_the_highest_cv_auc():
    best = evaluation.select_best(
        [cand("logistic_regression", 0.81), cand("random_forest", 0.93), cand("hist_gradient_boosting", 0.92)]
    )

    assert best == cand("random_forest", 0.93)


@pytest.mark.parametrize(
    ("candidates", "winner"),
    [
        (
            [cand("hist_gradient_boosting", 0.9), cand("logistic_regression", 0.9), cand("random_forest", 0.8)],
            "logistic_regression",
        ),
        ([cand("hist_gradient_boosting", 0.9), cand("random_forest", 0.9)], "random_forest"),
        (
            [cand("random_forest", 0.9), cand("hist_gradient_boosting", 0.9), cand("logistic_regression", 0.9)],
            "logistic_regression",
        ),
    ],
)
def test_select_best_breaks_ties_by_family_order(candidates, winner):
    assert evaluation.select_best(candidates)["family"] == winner


def test_select_best_returns_the_candidate_itself():
    candidate = {"family": "random_forest", "cv_auc": 0.7, "model_uri": "s3://b/k", "sha256": "x"}

    assert evaluation.select_best([candidate]) is candidate


def test_select_best_rejects_an_empty_list():
    with pytest.raises(ValueError, match="no trained candidate"):
        evaluation.select_best([])


def test_select_best_never_prefers_a_nan_cv_auc():
    best = evaluation.select_best([cand("logistic_regression", math.nan), cand("random_forest", 0.8)])

    assert best["family"] == "random_forest"


# --- score ------------------------------------------------------------------------------------------------

# Hand-made example: 6 negatives, 4 positives.
Y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
P = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9, 0.45, 0.55]
# at 0.5: predicted 1 for 0.6, 0.7 (false positives), 0.8, 0.9, 0.55 (true positives); 0.45 is a false negative
# AUC: of the 24 (positive, negative) pairs the positive scores higher in 6 + 6 + 4 + 4 = 20


def test_score_matches_a_hand_computed_example():
    metrics = evaluation.score(Y, P)

    # Exact values: score() rounds to 4 places, so compare whole dicts (no float tolerance needed).
    assert {k: v for k, v in metrics.items() if k != "classification_report"} == {
        "confusion_matrix": {"tn": 4, "fp": 2, "fn": 1, "tp": 3},
        "precision": 0.6,  # 3 / 5
        "recall": 0.75,  # 3 / 4
        "f1": 0.6667,  # 2 * 0.6 * 0.75 / 1.35
        "accuracy": 0.7,  # 7 / 10
        "auc": 0.8333,  # 20 / 24
        "threshold": 0.5,
        "rows": 10,
    }
    assert [metrics["auc"]] == [round(roc_auc_score(Y, P), 4)]


def test_score_threshold_is_inclusive():
    metrics = evaluation.score(Y, P, threshold=0.6)

    # 0.6 itself counts as positive: predicted 1 for 0.6, 0.7, 0.8, 0.9
    assert {k: metrics[k] for k in ("confusion_matrix", "precision", "recall", "threshold", "auc")} == {
        "confusion_matrix": {"tn": 4, "fp": 2, "fn": 2, "tp": 2},
        "precision": 0.5,
        "recall": 0.5,
        "threshold": 0.6,
        "auc": 0.8333,  # AUC does not depend on the threshold
    }


def test_score_with_no_positive_prediction_gives_zeros_not_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = evaluation.score(Y, [0.1] * 6 + [0.2] * 4)

    assert {k: metrics[k] for k in (*config.METRICS, "confusion_matrix")} == {
        "auc": 1.0,
        "f1": 0.0,
        "precision": 0.0,
        "recall": 0.0,
        "accuracy": 0.6,
        "confusion_matrix": {"tn": 6, "fp": 0, "fn": 4, "tp": 0},
    }


def test_score_includes_a_classification_report():
    report = evaluation.score(Y, P)["classification_report"]

    assert "no" in report
    assert "yes" in report
    assert "0.600" in report  # precision of 'yes', 3 digits


def test_score_accepts_pandas_and_numpy_inputs():
    a = evaluation.score(pd.Series(Y, dtype="int8"), np.array(P))
    b = evaluation.score(Y, P)

    assert {k: a[k] for k in config.METRICS} == {k: b[k] for k in config.METRICS}


# --- compare_with_baselines and verdict ------------------------------------------------------------------


def metrics_of(values: dict[str, float]) -> dict:
    """A Metrics-shaped dict with ``values`` for the compared metrics (the rest does not matter here)."""
    return {**values, "threshold": 0.5, "rows": 10, "confusion_matrix": {}, "classification_report": ""}


def test_compare_passes_when_every_metric_reaches_its_baseline():
    metrics = metrics_of(dict(config.BASELINES))  # equal is enough

    checks = evaluation.compare_with_baselines(metrics, config.BASELINES)

    assert evaluation.verdict(checks) is Verdict.PASS
    assert evaluation.verdict(checks) == "PASS"
    assert list(checks) == list(config.METRICS)
    assert all(c["passed"] for c in checks.values())
    assert checks["auc"] == {"value": 0.853, "baseline": 0.853, "passed": True}
    assert evaluation.failed_checks(checks) == []


@pytest.mark.parametrize("metric", config.METRICS)
def test_compare_is_below_baseline_when_one_metric_falls_short(metric):
    values = {name: 1.0 for name in config.METRICS}
    values[metric] = config.BASELINES[metric] - 0.0001

    checks = evaluation.compare_with_baselines(metrics_of(values), config.BASELINES)

    assert evaluation.verdict(checks) is Verdict.BELOW_BASELINE
    assert evaluation.verdict(checks) == "BELOW_BASELINE"
    assert [name for name, c in checks.items() if not c["passed"]] == [metric]
    assert evaluation.failed_checks(checks) == [metric]


def test_compare_checks_only_the_metrics_that_have_a_baseline():
    checks = evaluation.compare_with_baselines(
        metrics_of({m: 0.1 for m in config.METRICS} | {"auc": 0.9}), {"auc": 0.8}
    )

    assert checks == {"auc": {"value": 0.9, "baseline": 0.8, "passed": True}}
    assert evaluation.verdict(checks) == "PASS"


def test_compare_lists_the_checks_in_the_reported_order_whatever_the_baselines_order():
    baselines = dict(reversed(config.BASELINES.items()))

    checks = evaluation.compare_with_baselines(metrics_of(dict(config.BASELINES)), baselines)

    assert list(checks) == list(config.METRICS)


def test_no_baselines_is_a_pass():
    checks = evaluation.compare_with_baselines(metrics_of({m: 0.0 for m in config.METRICS}), {})

    assert checks == {}
    assert evaluation.verdict(checks) is Verdict.PASS


# --- evaluate_candidates on S3 ------------------------------------------------------------------------------

# The frames below hold the model's own probabilities as columns (ColumnProba reads them), not features: the
# single-column leak check (tests/unit/test_quality.py, and the end-to-end SUSPICIOUS run) is told of none.
NO_FEATURES = {"numeric": [], "categorical": []}


def candidate(family: str, cv_auc: float, saved: dict, fit_seconds: float = 1.0, best_params=None) -> dict:
    """A Candidate as train_planned returns it, for a model saved with ``storage.save_model``."""
    return {
        "family": family,
        "best_params": best_params or {},
        "cv_auc": cv_auc,
        "cv_auc_std": 0.01,
        "cv_folds": 3,
        "candidates": 1,
        "fit_seconds": fit_seconds,
        "grid_results": [],
        "model_uri": saved["uri"],
        "sha256": saved["sha256"],
        "model_bytes": saved["bytes"],
    }


@pytest.fixture
def one_job(monkeypatch):
    """The threshold's out-of-fold fits in this process: worker processes cost more than these tiny fits."""
    monkeypatch.setattr(config, "N_JOBS", 1)


def test_evaluate_candidates_scores_the_best_candidate(s3, run, one_job):
    test = pd.DataFrame({"row_id": range(1, 11), "p": P, "q": [0.5] * 10, "y": pd.Series(Y, dtype="int8")})
    # ColumnProba has no parameters to refit: choose_threshold's clone of it scores the training rows as is.
    train = pd.concat([test, test.assign(row_id=test["row_id"] + 10)], ignore_index=True)
    split = {
        **NO_FEATURES,
        "train_uri": storage.write_parquet(s3, run.uri(layout.TRAIN), train),
        "test_uri": storage.write_parquet(s3, run.uri(layout.TEST), test),
    }
    good = storage.save_model(s3, run.uri(layout.candidate("random_forest")), ColumnProba("p"))
    flat = storage.save_model(s3, run.uri(layout.candidate("logistic_regression")), ColumnProba("q"))
    candidates = [
        candidate("logistic_regression", 0.7, flat, fit_seconds=1.0, best_params={"C": 1.0}),
        candidate("random_forest", 0.9, good, fit_seconds=2.0, best_params={"max_depth": 3}),
    ]

    result = evaluation.evaluate_candidates(run, split, candidates, SETTINGS)

    assert set(result) == Evaluation.__required_keys__
    assert result["family"] == "random_forest"
    assert {k: result[k] for k in ("best_params", "cv_auc")} == {"best_params": {"max_depth": 3}, "cv_auc": 0.9}
    assert result["candidate_uri"] == good["uri"]
    assert result["sha256"] == good["sha256"]
    # The winner's test scores, once, under the run's prefix: publish and the report read these.
    assert result["scores_uri"] == f"s3://{BUCKET}/runs/{SAFE_RUN_ID}/data/test_scores.parquet"
    assert result["scores_uri"] == run.uri(layout.TEST_SCORES)
    scores = storage.read_parquet(s3, result["scores_uri"])
    assert scores["row_id"].tolist() == list(range(1, 11))
    assert scores["y"].tolist() == Y
    assert scores["probability"].tolist() == list(P)
    expected = evaluation.score(Y, P)
    assert result["metrics"] == expected
    assert result["checks"] == evaluation.compare_with_baselines(expected, config.BASELINES)
    assert result["verdict"] == "BELOW_BASELINE"  # auc 0.8333 < 0.853 and accuracy 0.7 < 0.887
    assert type(result["verdict"]) is str  # plain JSON for XCom, not the enum
    # The threshold: max F1 of the training rows' scores (P twice): at 0.45 every positive and 2 of 6
    # negatives are called positive, precision 2/3, recall 1, F1 0.8; no other cut does as well.
    assert (result["threshold"], result["threshold_oof_f1"]) == (0.45, 0.8)
    assert result["metrics_at_threshold"] == evaluation.score(Y, P, 0.45)
    # The operating point is the F1 rule's (the default); max profit at a call 5, a subscription 100 is the
    # same cut here: its 8 subscribers in 12 calls bring 800 - 60 = 740, more than any other cut.
    assert result["threshold_rule"] == "f1"
    assert result["thresholds"] == {"f1": 0.45, "profit": 0.45}
    assert result["economics"] == ECONOMICS
    assert result["leaderboard"] == [
        {"family": "random_forest", "cv_auc": 0.9, "fit_seconds": 2.0},
        {"family": "logistic_regression", "cv_auc": 0.7, "fit_seconds": 1.0},
    ]
    # No champion yet in this bucket; below the baselines, so no promotion either.
    assert result["decision"]["promote"] is False
    assert result["decision"]["champion_run_id"] is None
    assert result["decision"]["reason"].startswith("below baseline on auc")
    assert result["decision"]["margin"] == SETTINGS.promotion_margin
    json.dumps(result)


def test_evaluate_candidates_takes_the_baselines_and_margin_of_the_settings(s3, run, one_job):
    test = pd.DataFrame({"row_id": range(1, 11), "p": P, "y": pd.Series(Y, dtype="int8")})
    split = {
        **NO_FEATURES,
        "train_uri": storage.write_parquet(s3, run.uri(layout.TRAIN), test),
        "test_uri": storage.write_parquet(s3, run.uri(layout.TEST), test),
    }
    saved = storage.save_model(s3, run.uri(layout.candidate("random_forest")), ColumnProba("p"))
    settings = dataclasses.replace(SETTINGS, baselines={"auc": 0.8}, promotion_margin=0.01)

    result = evaluation.evaluate_candidates(run, split, [candidate("random_forest", 0.9, saved)], settings)

    assert result["checks"] == {"auc": {"value": 0.8333, "baseline": 0.8, "passed": True}}
    assert result["verdict"] == "PASS"
    assert result["decision"]["promote"] is True  # first champion
    assert result["decision"]["margin"] == pytest.approx(0.01)


def test_evaluate_candidates_operating_point_follows_the_threshold_rule(s3, run, one_job):
    test = pd.DataFrame({"row_id": range(1, 11), "p": P, "y": pd.Series(Y, dtype="int8")})
    train = pd.concat([test, test.assign(row_id=test["row_id"] + 10)], ignore_index=True)
    split = {
        **NO_FEATURES,
        "train_uri": storage.write_parquet(s3, run.uri(layout.TRAIN), train),
        "test_uri": storage.write_parquet(s3, run.uri(layout.TEST), test),
    }
    saved = storage.save_model(s3, run.uri(layout.candidate("random_forest")), ColumnProba("p"))
    money = {"cost_per_call": 60.0, "value_per_subscription": 100.0}
    # A call costing 60 of a subscription's 100: the training rows (P twice), best first, cut after each tied
    # pair: 0.9 -> 2 subscribers in 2 calls, 200 - 120 = 80; 0.8 -> 4 in 4, 160; 0.7 -> 4 in 6, 40;
    # 0.6 -> 4 in 8, -80; 0.55 -> 6 in 10, 0; 0.45 -> 8 in 12, 80; lower cuts add calls only. Best: 0.8.
    results = {
        rule: evaluation.evaluate_candidates(
            run,
            split,
            [candidate("random_forest", 0.9, saved)],
            dataclasses.replace(SETTINGS, economics=money, threshold_rule=rule),
        )
        for rule in ("f1", "profit")
    }

    for rule, threshold in (("f1", 0.45), ("profit", 0.8)):
        result = results[rule]
        assert result["thresholds"] == {"f1": 0.45, "profit": 0.8}  # both, whichever rule operates
        assert (result["threshold_rule"], result["threshold"]) == (rule, threshold)
        assert result["metrics_at_threshold"] == evaluation.score(Y, P, threshold)
        assert result["economics"] == money
        assert result["threshold_oof_f1"] == pytest.approx(0.8)  # the F1 rule's, whichever rule operates
        assert result["metrics"] == evaluation.score(Y, P)  # the verdict's 0.5 does not move


def test_evaluate_candidates_refuses_a_tampered_candidate(s3, run):
    test = pd.DataFrame({"row_id": [1, 2], "p": [0.2, 0.8], "y": [0, 1]})
    test_uri = storage.write_parquet(s3, f"s3://{BUCKET}/t.parquet", test)
    saved = storage.save_model(s3, f"s3://{BUCKET}/m.joblib", ColumnProba("p"))
    candidates = [candidate("random_forest", 0.9, {**saved, "sha256": "f" * 64})]

    with pytest.raises(storage.IntegrityError):
        split = {**NO_FEATURES, "test_uri": test_uri, "train_uri": test_uri}
        evaluation.evaluate_candidates(run, split, candidates, SETTINGS)


# --- decision threshold -------------------------------------------------------------------------------------


def _synthetic(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=1.0, size=n) > 1.0).astype("int8")
    return pd.DataFrame({"row_id": np.arange(1, n + 1), "s": signal, "c": rng.choice(["a", "b"], n), "y": y})


def _fitted_logistic(train: pd.DataFrame):
    from include.bank_marketing import families, training

    pipeline = training.make_pipeline(families.get("logistic_regression"), ["s"], ["c"])
    return pipeline.fit(train[["s", "c"]], train["y"])


def _oof(model, train: pd.DataFrame) -> np.ndarray:
    """The out-of-fold scores choose_thresholds reads (3 folds), computed here independently."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=config.RANDOM_STATE)
    return cross_val_predict(clone(model), train[["s", "c"]], train["y"], cv=folds, method="predict_proba")[:, 1]


def test_threshold_maximises_f1_on_out_of_fold_training_predictions(one_job):
    from sklearn.metrics import f1_score

    train = _synthetic(400, 1)
    model = _fitted_logistic(train)

    chosen = evaluation.choose_thresholds(model, train, ECONOMICS, cv_folds=3)

    oof = _oof(model, train)
    assert chosen["oof_f1"] == pytest.approx(f1_score(train["y"], oof >= chosen["f1"]), abs=2e-3)
    # No other cut of the out-of-fold scores does better (F1 of every cut at once: f1_score 400 times is slow).
    y = train["y"].to_numpy().astype(bool)
    called = oof[None, :] >= np.unique(oof)[:, None]
    tp = (called & y).sum(axis=1)
    best_other = float(np.max(2 * tp / (called.sum(axis=1) + y.sum())))
    assert chosen["oof_f1"] >= best_other - 1e-3
    assert 0 < chosen["f1"] < 1


@pytest.mark.parametrize("money", [ECONOMICS, {"cost_per_call": 30.0, "value_per_subscription": 100.0}])
def test_profit_threshold_is_chosen_on_the_same_out_of_fold_predictions(one_job, money):
    train = _synthetic(400, 1)
    model = _fitted_logistic(train)

    chosen = evaluation.choose_thresholds(model, train, money, cv_folds=3)

    oof = _oof(model, train)
    threshold, best = campaign.profit_threshold(train["y"], oof, money)
    assert chosen["profit"] == round(threshold, 4)
    assert best > 0 and 0 < chosen["profit"] < 1
    # ... and on those predictions no cut earns more than it.
    y = train["y"].to_numpy()
    profits = [money["value_per_subscription"] * y[oof >= t].sum() - money["cost_per_call"] * (oof >= t).sum()
               for t in np.unique(oof)]  # fmt: skip
    assert best == pytest.approx(max(profits))
    assert campaign.profit_at(y, oof, threshold, "profit", money)["profit"] == pytest.approx(best)


def test_profit_threshold_when_no_call_pays_is_above_every_out_of_fold_score(one_job):
    # A call costs 60 of a subscription's 100, and the 3 subscribers are the 3 lowest scores: every cut loses.
    # The highest score, 0.031234, rounded to 4 places would be 0.0312: below it, and calling its row.
    train = pd.DataFrame(
        {
            "row_id": range(1, 11),
            "p": [0.01, 0.012, 0.0123, 0.02, 0.03, 0.031, 0.0312, 0.03123, 0.0311, 0.031234],
            "y": pd.Series([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype="int8"),
        }
    )
    money = {"cost_per_call": 60.0, "value_per_subscription": 100.0}

    chosen = evaluation.choose_thresholds(ColumnProba("p"), train, money, cv_folds=3)

    assert chosen["profit"] > 0.031234
    assert chosen["profit"] == pytest.approx(0.0313, abs=1.5e-4)  # 4 places, just above the highest score
    assert campaign.profit_at(train["y"], train["p"], chosen["profit"], "profit", money)["calls"] == 0


def test_threshold_never_sees_the_test_split(s3, run, one_job):
    train = _synthetic(400, 1)
    saved = storage.save_model(s3, f"s3://{BUCKET}/m.joblib", _fitted_logistic(train))
    train_uri = storage.write_parquet(s3, f"s3://{BUCKET}/train.parquet", train)
    candidates = [candidate("logistic_regression", 0.8, saved)]
    settings = dataclasses.replace(SETTINGS, cv_folds=3)

    thresholds = set()
    for seed in (2, 3):  # two different test splits, same training split
        test_uri = storage.write_parquet(s3, f"s3://{BUCKET}/test-{seed}.parquet", _synthetic(200, seed))
        split = {**NO_FEATURES, "train_uri": train_uri, "test_uri": test_uri}
        result = evaluation.evaluate_candidates(run, split, candidates, settings)
        thresholds.add((result["threshold"], result["thresholds"]["f1"], result["thresholds"]["profit"]))
        assert result["metrics"]["threshold"] == pytest.approx(0.5)  # baselines are compared at 0.5
        assert result["metrics_at_threshold"]["threshold"] == result["threshold"]

    assert len(thresholds) == 1
    # ... and they are the ones chosen on the training rows.
    model = storage.load_model(s3, saved["uri"], saved["sha256"])
    chosen = evaluation.choose_thresholds(model, train, ECONOMICS, cv_folds=3)
    assert thresholds == {(chosen["f1"], chosen["f1"], chosen["profit"])}


def test_a_verdict_is_suspicious_only_when_the_baselines_pass():
    passed = {"auc": {"value": 0.99, "baseline": 0.9, "passed": True}}
    failed = {"auc": {"value": 0.8, "baseline": 0.9, "passed": False}}
    assert evaluation.verdict(passed, ["too good"]) is Verdict.SUSPICIOUS
    assert evaluation.verdict(passed, []) is Verdict.PASS
    assert evaluation.verdict(failed, ["too good"]) is Verdict.BELOW_BASELINE
