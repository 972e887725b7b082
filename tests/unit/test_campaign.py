"""campaign: gains and lift, the profit threshold and curve, calibration, permutation importance and the
explain_for_campaign stage, on hand-made scores whose figures are worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from include.bank_marketing import campaign, config, layout, storage
from tests.support.builders import ECONOMICS, ColumnProba, get_body, threshold_keys

# --- gains and lift -------------------------------------------------------------------------------------------


def perfect(n: int = 100, positives: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``positives`` subscribers among ``n`` customers, scattered through the file, every one scored above
    every non-subscriber: a perfect ranking."""
    y = np.zeros(n, dtype=int)
    y[np.random.default_rng(0).choice(n, positives, replace=False)] = 1
    p = np.where(y == 1, 0.6, 0.1) + np.linspace(0, 0.3, n)  # the file order does not matter, only the score
    return y, p


def test_a_perfect_ranking_reaches_every_subscriber_at_their_share():
    y, p = perfect()  # 20 % are subscribers

    curve = campaign.gains_curve(y, p, "model")

    assert curve["label"] == "model"
    assert len(curve["share_called"]) == len(curve["share_reached"]) == campaign.CURVE_POINTS == 101
    assert curve["share_called"][:3] == [0.0, 0.01, 0.02] and curve["share_called"][-1] == pytest.approx(1)
    # Each 1 % called (one customer of 100) is one more of the 20 subscribers until all are reached at 20 %.
    assert curve["share_reached"][:21] == [round(k / 20, 4) for k in range(21)]
    assert curve["share_reached"][20:] == [1.0] * 81
    assert campaign.gains_at(y, p, (0.1, 0.2, 0.3)) == [
        {"share_called": 0.1, "share_reached": 0.5, "lift": 5.0},
        {"share_called": 0.2, "share_reached": 1.0, "lift": 5.0},
        {"share_called": 0.3, "share_reached": 1.0, "lift": 3.33},
    ]


def test_a_random_ranking_follows_the_diagonal():
    rng = np.random.default_rng(7)
    y = (rng.random(20_000) < 0.12).astype(int)
    p = rng.random(20_000)  # scores that know nothing of y

    curve = campaign.gains_curve(y, p, "random")
    gains = campaign.gains_at(y, p)

    deviation = np.abs(np.array(curve["share_reached"]) - np.array(curve["share_called"]))
    assert deviation.max() < 0.03
    assert [g["share_called"] for g in gains] == list(config.GAINS_SHARES)
    assert all(g["lift"] == pytest.approx(1.0, abs=0.1) for g in gains)


def test_gains_at_counts_the_top_share_of_rows_and_lift_is_reached_over_called():
    # 10 customers best first, subscribers at ranks 1, 4 and 6.
    p = np.linspace(0.9, 0.0, 10)
    y = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 0])

    gains = campaign.gains_at(y, p, (0.1, 0.3, 0.5))

    # The top 30 % is 3 customers (0.3 x 10 is 3.0000000000000004 in floating point: not 4 of them).
    assert gains == [
        {"share_called": 0.1, "share_reached": 0.3333, "lift": 3.33},
        {"share_called": 0.3, "share_reached": 0.3333, "lift": 1.11},
        {"share_called": 0.5, "share_reached": 0.6667, "lift": 1.33},
    ]
    for g in gains:
        assert g["lift"] == pytest.approx(g["share_reached"] / g["share_called"], abs=0.01)


def test_gains_curve_calls_whole_customers_at_each_share():
    y = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 0])

    curve = campaign.gains_curve(y, np.linspace(0.9, 0.0, 10), "model", points=11)

    # 0 to 10 customers called, one more per 10 %: subscribers reached after 1, 4 and 6 calls.
    assert curve["share_reached"] == [0.0, 0.3333, 0.3333, 0.3333, 0.6667, 0.6667, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_gains_without_subscribers_are_zero():
    y, p = np.zeros(10, dtype=int), np.linspace(0, 1, 10)

    assert set(campaign.gains_curve(y, p, "model")["share_reached"]) == {0.0}
    assert [g["share_reached"] for g in campaign.gains_at(y, p)] == [0.0, 0.0, 0.0]


def test_labels_and_probabilities_of_different_lengths_are_an_error():
    with pytest.raises(ValueError, match="3 labels but 2 probabilities"):
        campaign.gains_at([0, 1, 1], [0.2, 0.4])


# --- profit -----------------------------------------------------------------------------------------------------

# 10 customers, in file order; two ties (0.8 twice, 0.6 twice), 3 subscribers.
P = np.array([0.6, 0.9, 0.8, 0.7, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1])
Y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
DEAR = {"cost_per_call": 30.0, "value_per_subscription": 100.0}


def test_expected_value_and_profit():
    assert campaign.expected_value([0.0, 0.05, 0.3], ECONOMICS).tolist() == pytest.approx([-5.0, 0.0, 25.0])
    assert float(campaign.profit(3, 10, DEAR)) == pytest.approx(0)  # 100 x 3 - 30 x 10
    assert campaign.profit(np.array([1, 2]), np.array([1, 5]), DEAR).tolist() == [70.0, 50.0]


def test_profit_threshold_on_a_hand_made_example_cuts_between_ties():
    # Calling at or above each threshold (a call 30, a subscription 100):
    #   0.9: 1 call, 1 subscriber, 70          0.8: 3 calls, 1, 10      0.7: 4 calls, 2, 80
    #   0.6: 6 calls, 3 subscribers, 120       0.5: 7, 3, 90            0.3: 8, 3, 60 ... 0.1: 10, 3, 0
    # Cutting inside the tie at 0.6 (its subscriber only: 5 calls, 3 subscribers, 150) is not a threshold.
    assert campaign.profit_threshold(Y, P, DEAR) == (0.6, 120.0)


def test_profit_threshold_of_equal_profits_calls_fewer():
    # 0.9 -> 1 call, 1 subscriber: 50; 0.8 -> 2 calls, 1: 0; 0.7 -> 3 calls, 2: 50. The same profit, fewer calls.
    money = {"cost_per_call": 50.0, "value_per_subscription": 100.0}

    assert campaign.profit_threshold([1, 0, 1], [0.9, 0.8, 0.7], money) == (0.9, 50.0)


@pytest.mark.parametrize(
    ("y", "p"),
    [([0, 0, 1], [0.9, 0.5, 0.2]), ([0, 0, 0], [0.3, 0.2, 0.1])],
    ids=["subscribers-ranked-last", "no-subscriber"],
)
def test_profit_threshold_when_no_call_pays_is_just_above_the_highest_score(y, p):
    # A call 60, a subscription 100: -60 at 0.9, -120 at 0.5, 100 - 180 = -80 at 0.2.
    money = {"cost_per_call": 60.0, "value_per_subscription": 100.0}

    threshold, best = campaign.profit_threshold(y, p, money)

    assert best == pytest.approx(0)
    assert threshold > max(p)
    assert threshold == np.nextafter(max(p), 1)
    assert campaign.profit_at(y, p, threshold, "profit", money)["calls"] == 0


def test_profit_threshold_of_no_rows_is_an_error():
    with pytest.raises(ValueError, match="no rows"):
        campaign.profit_threshold([], [], ECONOMICS)


def test_profit_threshold_is_the_best_of_every_cut_on_random_tied_scores():
    rng = np.random.default_rng(3)
    p = rng.integers(0, 40, 500) / 40  # many ties
    y = (rng.random(500) < p * 0.5).astype(int)

    threshold, best = campaign.profit_threshold(y, p, ECONOMICS)

    every_cut = {t: campaign.profit_at(y, p, t, "profit", ECONOMICS)["profit"] for t in np.unique(p)}
    assert best == pytest.approx(max(every_cut.values()))
    assert campaign.profit_at(y, p, threshold, "profit", ECONOMICS)["profit"] == pytest.approx(best)
    assert threshold == max(t for t, v in every_cut.items() if v == pytest.approx(best))  # fewest calls


def test_profit_at_a_threshold_by_hand():
    # At or above 0.6: 0.9, 0.8, 0.8, 0.7, 0.6, 0.6: 6 calls reach 3 subscribers; 300 - 180 = 120 on 10 rows.
    assert campaign.profit_at(Y, P, 0.6, "profit", DEAR) == {
        "rule": "profit",
        "threshold": 0.6,
        "calls": 6,
        "subscribers": 3,
        "profit": 120.0,
        "profit_per_1000": 12000.0,
    }
    # Above every score: nobody is called.
    nobody = campaign.profit_at(Y, P, 0.95, "f1", DEAR)
    assert (nobody["calls"], nobody["subscribers"], nobody["profit"], nobody["rule"]) == (0, 0, 0.0, "f1")
    # 0.1 x 100 - 30 x ... : every call at 0.1 and above, 3 subscribers, 300 - 300.
    assert campaign.profit_at(Y, P, 0.1, "f1", DEAR)["profit"] == pytest.approx(0)


def test_profit_at_rounds_the_threshold_and_money_for_display():
    at = campaign.profit_at(Y, P, 0.123456789, "f1", {"cost_per_call": 1 / 3, "value_per_subscription": 100.0})

    assert (at["threshold"], at["profit"], at["profit_per_1000"]) == (0.1235, 297.0, 29700.0)  # 300 - 9 x 1/3


def test_profit_curve_by_hand_and_as_profit_at_each_threshold():
    curve = campaign.profit_curve(Y, P, DEAR, points=5)

    assert curve == {
        "threshold": [0.0, 0.25, 0.5, 0.75, 1.0],
        "calls": [10, 8, 7, 3, 0],  # 0.5 itself is called at 0.5
        "subscribers": [3, 3, 3, 1, 0],
        "profit": [0.0, 60.0, 90.0, 10.0, 0.0],
    }
    for t, calls, profit in zip(curve["threshold"], curve["calls"], curve["profit"], strict=True):
        at = campaign.profit_at(Y, P, t, "f1", DEAR)
        assert (at["calls"], at["profit"]) == (calls, profit)


def test_profit_curve_default_has_201_thresholds_agreeing_with_profit_at():
    rng = np.random.default_rng(5)
    p = rng.random(300).round(3)
    y = (rng.random(300) < p).astype(int)

    curve = campaign.profit_curve(y, p, ECONOMICS)

    assert len(curve["threshold"]) == 201 and curve["threshold"][1] == pytest.approx(0.005)
    for i in (0, 37, 100, 163, 200):
        at = campaign.profit_at(y, p, curve["threshold"][i], "f1", ECONOMICS)
        assert (curve["calls"][i], curve["subscribers"][i]) == (at["calls"], at["subscribers"])
        assert curve["profit"][i] == pytest.approx(at["profit"])


# --- calibration --------------------------------------------------------------------------------------------


def test_calibration_bins_by_quantile_on_a_small_example():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    y = np.array([0, 0, 0, 1, 0, 1, 0, 1, 1, 1])

    # Two bins split at the median 0.55: 0.1-0.5 (mean 0.3, 1 subscriber of 5), 0.6-1.0 (mean 0.8, 4 of 5).
    assert campaign.calibration(y, p, bins=2) == {"mean_predicted": [0.3, 0.8], "observed": [0.2, 0.8], "rows": [5, 5]}
    # Five bins of two rows each.
    assert campaign.calibration(y, p, bins=5) == {
        "mean_predicted": [0.15, 0.35, 0.55, 0.75, 0.95],
        "observed": [0.0, 0.5, 0.5, 0.5, 1.0],
        "rows": [2, 2, 2, 2, 2],
    }


def test_calibration_of_one_repeated_score_is_one_bin():
    assert campaign.calibration([0, 1, 1, 0], [0.4] * 4) == {"mean_predicted": [0.4], "observed": [0.5], "rows": [4]}


def test_calibration_merges_bins_of_tied_scores():
    # 8 of 10 rows tied at 0.2: the quantile edges collapse, and no row is lost.
    curve = campaign.calibration([0] * 7 + [1, 1, 1], [0.2] * 8 + [0.7, 0.9])

    assert sum(curve["rows"]) == 10
    assert curve["mean_predicted"][0] == pytest.approx(0.2) and curve["observed"][0] == pytest.approx(1 / 8, abs=1e-4)


# --- permutation importance ---------------------------------------------------------------------------------


@pytest.fixture
def one_job(monkeypatch):
    """The shuffles in this thread: a pool costs more than the few hundred rows' predictions."""
    monkeypatch.setattr(config, "N_JOBS", 1)


def test_importance_ranks_first_the_column_the_label_was_built_from(one_job):
    from include.bank_marketing import families, training

    rng = np.random.default_rng(11)
    n = 600
    x = pd.DataFrame(
        {
            "noise_a": rng.normal(size=n),
            "signal": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
        }
    )
    y = pd.Series((x["signal"] + rng.normal(scale=0.5, size=n) > 0).astype(int))
    model = training.make_pipeline(families.get("logistic_regression"), ["noise_a", "signal", "noise_b"], ["colour"])
    model.fit(x, y)

    ranked = campaign.importance(model, x, y, repeats=3, rows=400)

    assert ranked[0]["column"] == "signal"
    assert sorted(c["column"] for c in ranked) == ["colour", "noise_a", "noise_b", "signal"]
    assert ranked[0]["mean"] > 0.2  # shuffling it costs much of the AUC
    assert all(abs(c["mean"]) < 0.05 for c in ranked[1:])  # the noise costs next to nothing
    assert [c["mean"] for c in ranked] == sorted((c["mean"] for c in ranked), reverse=True)
    assert all(c["std"] >= 0 for c in ranked)


def test_importance_of_unused_columns_is_zero_and_ties_go_by_name(one_job):
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"z_unused": rng.random(200), "p": rng.random(200), "a_unused": rng.random(200)})
    y = (x["p"] > 0.5).astype(int)

    ranked = campaign.importance(ColumnProba("p").fit(x, y), x, y, repeats=2)

    assert [c["column"] for c in ranked] == ["p", "a_unused", "z_unused"]
    assert ranked[0]["mean"] > 0.3
    assert ranked[1:] == [
        {"column": "a_unused", "mean": 0.0, "std": 0.0},
        {"column": "z_unused", "mean": 0.0, "std": 0.0},
    ]


# --- explain_for_campaign -------------------------------------------------------------------------------------


def test_explain_for_campaign_writes_campaign_json_and_the_charts(s3, run, one_job):
    rng = np.random.default_rng(4)
    n = 200
    y = (rng.random(n) < 0.2).astype("int8")
    test = pd.DataFrame(
        {
            "row_id": np.arange(1, n + 1),
            "p": np.clip(0.15 + 0.5 * y + rng.normal(0, 0.15, n), 0, 1),  # the winner: ranks well
            "q": rng.random(n),  # the lab's family: ranks at random
            "y": y,
        }
    )
    winner = storage.save_model(s3, run.uri(layout.candidate("random_forest")), ColumnProba("p").fit(test, y))
    lab = storage.save_model(s3, run.uri(layout.candidate("logistic_regression")), ColumnProba("q").fit(test, y))
    split = {"test_uri": storage.write_parquet(s3, run.uri(layout.TEST), test)}
    scores = test[["row_id", "y"]].assign(probability=test["p"])
    money = {"cost_per_call": 10.0, "value_per_subscription": 100.0}
    result = {
        "family": "random_forest",
        "candidate_uri": winner["uri"],
        "sha256": winner["sha256"],
        "scores_uri": storage.write_parquet(s3, run.uri(layout.TEST_SCORES), scores),
        **threshold_keys(0.45, 0.2, "profit", money),
    }
    candidates = [
        {"family": "logistic_regression", "model_uri": lab["uri"], "sha256": lab["sha256"]},
        {"family": "random_forest", "model_uri": winner["uri"], "sha256": winner["sha256"]},
    ]

    summary = campaign.explain_for_campaign(run, split, candidates, result)

    p = test["p"].to_numpy()
    assert summary["threshold_rule"] == "profit" and summary["economics"] == money
    assert summary["profit"] == [  # the operating point's rule first
        campaign.profit_at(y, p, 0.2, "profit", money),
        campaign.profit_at(y, p, 0.45, "f1", money),
    ]
    assert summary["gains"] == campaign.gains_at(y, p)
    assert summary["top_columns"] == ["p", "q"]  # the model reads p only: q's importance is 0
    assert summary["compared_with"] == "logistic_regression"
    assert summary["campaign_uri"] == run.uri(layout.CAMPAIGN)
    curves = json.loads(get_body(s3, summary["campaign_uri"].split("/", 3)[3]))
    assert (curves["rows"], curves["positives"]) == (n, int(y.sum()))
    assert curves["thresholds"] == {"f1": 0.45, "profit": 0.2}
    assert [r["label"] for r in curves["rankings"]] == ["model", "logistic_regression"]
    assert curves["rankings"][1] == campaign.gains_curve(y, test["q"], "logistic_regression")
    assert curves["profit"] == campaign.profit_curve(y, p, money)
    assert [c["column"] for c in curves["importance"]] == ["p", "q"]
    assert "chart_uris" not in summary  # the report draws the charts from campaign.json


def test_explain_for_campaign_compares_with_no_family_when_the_lab_family_won(s3, run, one_job):
    test = pd.DataFrame({"row_id": range(1, 41), "p": np.linspace(0, 1, 40), "y": [0, 1] * 20})
    model = storage.save_model(
        s3, run.uri(layout.candidate("logistic_regression")), ColumnProba("p").fit(test, test["y"])
    )
    result = {
        "family": "logistic_regression",
        "candidate_uri": model["uri"],
        "sha256": model["sha256"],
        "scores_uri": storage.write_parquet(
            s3, run.uri(layout.TEST_SCORES), test[["row_id", "y"]].assign(probability=test["p"])
        ),
        **threshold_keys(0.5, 0.3),
    }
    split = {"test_uri": storage.write_parquet(s3, run.uri(layout.TEST), test)}
    candidates = [{"family": "logistic_regression", "model_uri": model["uri"], "sha256": model["sha256"]}]

    summary = campaign.explain_for_campaign(run, split, candidates, result)

    assert summary["compared_with"] is None
    assert [p["rule"] for p in summary["profit"]] == ["f1", "profit"]
    curves = json.loads(get_body(s3, summary["campaign_uri"].split("/", 3)[3]))
    assert [r["label"] for r in curves["rankings"]] == ["model"]


def test_explain_for_campaign_refuses_a_tampered_model(s3, run):
    test = pd.DataFrame({"row_id": [1, 2], "p": [0.2, 0.8], "y": [0, 1]})
    model = storage.save_model(s3, run.uri(layout.candidate("random_forest")), ColumnProba("p"))
    result = {
        "family": "random_forest",
        "candidate_uri": model["uri"],
        "sha256": "f" * 64,
        "scores_uri": storage.write_parquet(
            s3, run.uri(layout.TEST_SCORES), test[["row_id", "y"]].assign(probability=test["p"])
        ),
        **threshold_keys(0.5),
    }
    split = {"test_uri": storage.write_parquet(s3, run.uri(layout.TEST), test)}

    with pytest.raises(storage.IntegrityError):
        campaign.explain_for_campaign(run, split, [], result)
