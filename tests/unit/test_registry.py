"""Champion registry: promotion rules, conditional writes, races, idempotent re-runs, history lines."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from include.bank_marketing import config, evaluation, registry, storage
from include.bank_marketing.layout import CHAMPION_KEY, history_key
from tests.unit.conftest import BUCKET, ColumnProba, all_keys, get_body

Y = [0, 0, 0, 0, 1, 1, 1, 1]
# Three stand-in models: their probability is one column of the test rows, so their AUC is known exactly.
TEST = pd.DataFrame(
    {
        "row_id": range(1, 9),
        "good": [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9],  # AUC 1.0
        "fair": [0.1, 0.2, 0.7, 0.4, 0.6, 0.3, 0.8, 0.9],  # AUC 0.8125
        "y": Y,
    }
)


def _setup_model(s3, run_id: str, column: str, auc: float, verdict: str = "PASS") -> tuple[dict, dict]:
    """Publish a stand-in model for ``run_id``; return (evaluation result, artifacts) as the DAG has them."""
    saved = storage.save_model(s3, f"s3://{BUCKET}/runs/{run_id}/model.joblib", ColumnProba(column))
    metrics = {"auc": auc, "f1": 0.6, "precision": 0.6, "recall": 0.6, "accuracy": 0.9, "threshold": 0.5}
    checks = evaluation.compare_with_baselines(metrics, config.BASELINES)["checks"]
    result = {"family": "random_forest", "sha256": saved["sha256"], "metrics": metrics, "checks": checks}
    result.update(threshold=0.3, metrics_at_threshold={**metrics, "threshold": 0.3})
    result["verdict"] = verdict
    artifacts = {"model_uri": saved["uri"], "model_json_uri": f"s3://{BUCKET}/runs/{run_id}/model.json"}
    return result, artifacts


def _champion(s3) -> dict:
    return json.loads(get_body(s3, CHAMPION_KEY))


def _history(s3, run_id: str) -> dict:
    return json.loads(get_body(s3, history_key(run_id)))


@pytest.fixture
def test_uri(s3):
    return storage.write_parquet(s3, f"s3://{BUCKET}/runs/shared/test.parquet", TEST)


def _evaluate_and_decide(s3, run_id, column, auc, margin=0.002):
    result, artifacts = _setup_model(s3, run_id, column, auc)
    result["decision"] = registry.compare_with_champion(s3, BUCKET, result, TEST, margin)
    return result, artifacts


def test_decide_rules():
    champion = {"run_id": "old"}
    assert registry.decide("BELOW_BASELINE", ["f1"], 0.95, None, None, None, 0.002) == {
        "promote": False,
        "reason": "below baseline on f1; champion kept",
    }
    assert registry.decide("PASS", [], 0.93, None, None, None, 0.002)["promote"] is True
    kept = registry.decide("PASS", [], 0.931, champion, 0.936, None, 0.002)
    assert kept == {"promote": False, "reason": "challenger AUC 0.9310 < champion 0.9360 + margin 0.002"}
    won = registry.decide("PASS", [], 0.94, champion, 0.936, None, 0.002)
    assert won == {"promote": True, "reason": "challenger AUC 0.9400 >= champion 0.9360 + margin 0.002"}
    # Inside the margin is not enough.
    assert registry.decide("PASS", [], 0.937, champion, 0.936, None, 0.002)["promote"] is False
    unscored = registry.decide("PASS", [], 0.93, champion, None, "champion old cannot score this run's rows", 0.0)
    assert unscored["promote"] is True and "cannot score" in unscored["reason"]


def test_first_run_promotes_and_records_history(s3, test_uri):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "fair", 0.8125)
    assert result["decision"]["champion_run_id"] is None

    final = registry.promote(s3, BUCKET, "run-1", result, artifacts, result["decision"], test_uri)

    assert final["promote"] is True
    champion = _champion(s3)
    assert champion["run_id"] == "run-1"
    assert champion["model_uri"] == artifacts["model_uri"]
    assert champion["sha256"] == result["sha256"]
    assert champion["metrics"]["auc"] == pytest.approx(0.8125)
    assert _history(s3, "run-1")["decision"] == "promoted"


def test_challenger_is_compared_with_the_champion_rescored_on_the_same_rows(s3, test_uri):
    first, first_artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(s3, BUCKET, "run-1", first, first_artifacts, first["decision"], test_uri)

    second, _ = _evaluate_and_decide(s3, "run-2", "fair", 0.8125)

    assert second["decision"]["champion_run_id"] == "run-1"
    assert second["decision"]["champion_auc"] == pytest.approx(1.0)  # re-scored here, not copied
    assert second["decision"]["promote"] is False
    assert second["decision"]["reason"] == "challenger AUC 0.8125 < champion 1.0000 + margin 0.002"
    final = registry.keep(s3, BUCKET, "run-2", second, second["decision"])
    assert final["promote"] is False
    assert _champion(s3)["run_id"] == "run-1"
    assert _history(s3, "run-2")["decision"] == "kept_champion"
    assert _history(s3, "run-2")["reason"] == second["decision"]["reason"]


def test_racing_promotions_never_leave_the_pointer_on_the_loser(s3, test_uri):
    # Both runs were evaluated while there was no champion; both decided to promote.
    strong, strong_artifacts = _evaluate_and_decide(s3, "strong", "good", 1.0)
    weak, weak_artifacts = _evaluate_and_decide(s3, "weak", "fair", 0.8125)
    assert strong["decision"]["promote"] and weak["decision"]["promote"]

    registry.promote(s3, BUCKET, "strong", strong, strong_artifacts, strong["decision"], test_uri)
    # The weak run promotes with a stale view: its conditional write must not win.
    final = registry.promote(s3, BUCKET, "weak", weak, weak_artifacts, weak["decision"], test_uri)

    assert final["promote"] is False
    assert final["reason"] == "challenger AUC 0.8125 < champion 1.0000 + margin 0.002"
    assert _champion(s3)["run_id"] == "strong"
    assert _history(s3, "weak")["decision"] == "kept_champion"
    assert _history(s3, "strong")["decision"] == "promoted"


def test_a_better_late_challenger_replaces_the_race_winner(s3, test_uri):
    weak, weak_artifacts = _evaluate_and_decide(s3, "weak", "fair", 0.8125)
    strong, strong_artifacts = _evaluate_and_decide(s3, "strong", "good", 1.0)

    registry.promote(s3, BUCKET, "weak", weak, weak_artifacts, weak["decision"], test_uri)
    final = registry.promote(s3, BUCKET, "strong", strong, strong_artifacts, strong["decision"], test_uri)

    assert final["promote"] is True
    assert final["reason"] == "challenger AUC 1.0000 >= champion 0.8125 + margin 0.002"
    champion = _champion(s3)
    assert (champion["run_id"], champion["previous_run_id"]) == ("strong", "weak")


def test_pointer_write_is_conditional(s3):
    doc = {"run_id": "x"}
    registry._put_pointer(s3, BUCKET, doc, None)
    with pytest.raises(registry.ChampionChangedError):
        registry._put_pointer(s3, BUCKET, doc, None)  # If-None-Match: * fails once a champion exists
    with pytest.raises(registry.ChampionChangedError):
        registry._put_pointer(s3, BUCKET, doc, '"not-the-etag"')


def test_rerun_of_a_promoted_run_is_idempotent(s3, test_uri):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(s3, BUCKET, "run-1", result, artifacts, result["decision"], test_uri)
    before = _champion(s3)
    keys_before = all_keys(s3)

    # A cleared and re-run promote task: same run, stale decision (it saw no champion).
    final = registry.promote(s3, BUCKET, "run-1", result, artifacts, result["decision"], test_uri)

    assert final["promote"] is True
    assert _champion(s3) == before
    assert all_keys(s3) == keys_before  # one history line per run, replaced rather than added
    assert [k for k in keys_before if k.startswith("models/history/")] == [history_key("run-1")]


def test_a_tampered_champion_stops_the_comparison(s3, test_uri):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(s3, BUCKET, "run-1", result, artifacts, result["decision"], test_uri)
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/model.joblib", Body=b"not the promoted pickle")

    challenger, _ = _setup_model(s3, "run-2", "fair", 0.8125)
    with pytest.raises(storage.IntegrityError, match="does not match the recorded"):
        registry.compare_with_champion(s3, BUCKET, challenger, TEST, 0.002)


def test_a_champion_that_cannot_score_new_columns_yields(s3, test_uri):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(s3, BUCKET, "run-1", result, artifacts, result["decision"], test_uri)

    challenger, _ = _setup_model(s3, "run-2", "fair", 0.8125)
    decision = registry.compare_with_champion(s3, BUCKET, challenger, TEST.drop(columns=["good"]), 0.002)

    assert decision["promote"] is True
    assert decision["champion_auc"] is None
    assert "champion run-1 cannot score this run's rows" in decision["reason"]


def test_below_baseline_never_promotes_even_without_champion(s3, test_uri):
    result, _ = _setup_model(s3, "run-1", "fair", 0.8125, verdict="BELOW_BASELINE")
    decision = registry.compare_with_champion(s3, BUCKET, result, TEST, 0.002)

    assert decision["promote"] is False
    assert decision["reason"].startswith("below baseline")
