"""Champion registry: promotion rules, conditional writes, races, idempotent re-runs, history lines."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from include.bank_marketing import approval, config, evaluation, registry, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import Champion, Decision, Verdict
from include.bank_marketing.layout import CHAMPION_KEY, history_key
from include.bank_marketing.registry import ChampionScore
from tests.support.builders import BUCKET, ECONOMICS, ColumnProba, all_keys, get_body, threshold_keys

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
MARGIN = 0.002
# The approval gate's records of runs that asked nobody: promoted under "auto", or kept by the rules.
AUTO = approval.without_person("auto", {"promote": True})  # type: ignore[typeddict-item]
NOT_ASKED = approval.without_person("auto", {"promote": False})  # type: ignore[typeddict-item]


def scored(auc: float, verdict: Verdict = Verdict.PASS, failed: tuple[str, ...] = (), **changes) -> dict:
    """A ScoredModel-shaped dict with test AUC ``auc`` and checks that fail exactly on ``failed``."""
    metrics = {"auc": auc, "f1": 0.6, "precision": 0.6, "recall": 0.6, "accuracy": 0.9, "threshold": 0.5}
    checks = {name: {"value": 0.5, "baseline": 0.4, "passed": name not in failed} for name in config.METRICS}
    return {"family": "random_forest", "sha256": "ab" * 32, "metrics": metrics, "checks": checks,
            "verdict": verdict.value, **changes}  # fmt: skip


def _setup_model(s3, run_id: str, column: str, auc: float, verdict: str = "PASS") -> tuple[dict, dict]:
    """Publish a stand-in model for ``run_id``; return (evaluation result, artifacts) as the DAG has them."""
    saved = storage.save_model(s3, f"s3://{BUCKET}/runs/{run_id}/model.joblib", ColumnProba(column))
    metrics = {"auc": auc, "f1": 0.6, "precision": 0.6, "recall": 0.6, "accuracy": 0.9, "threshold": 0.5}
    checks = evaluation.compare_with_baselines(metrics, config.BASELINES)
    result = {"family": "random_forest", "sha256": saved["sha256"], "metrics": metrics, "checks": checks}
    # The operating point: the F1 threshold 0.3 (the profit one, 0.1, travels with it to the pointer).
    result.update(threshold_keys(0.3, 0.1), metrics_at_threshold={**metrics, "threshold": 0.3})
    result["verdict"] = verdict
    artifacts = {
        "model_uri": saved["uri"],
        "model_json_uri": f"s3://{BUCKET}/runs/{run_id}/model.json",
        "profile_uri": f"s3://{BUCKET}/runs/{run_id}/profile.json",
    }
    return result, artifacts


def _champion(s3) -> dict:
    return json.loads(get_body(s3, CHAMPION_KEY))


def _history(s3, run_id: str) -> dict:
    return json.loads(get_body(s3, history_key(run_id)))


def _run(s3, run_id: str) -> RunContext:
    return RunContext(s3, BUCKET, run_id)


@pytest.fixture
def split(s3):
    """The split a promote task gets: it reads the test rows only to re-decide after a lost race."""
    return {"test_uri": storage.write_parquet(s3, f"s3://{BUCKET}/runs/shared/test.parquet", TEST)}


def _evaluate_and_decide(s3, run_id, column, auc, margin=MARGIN):
    result, artifacts = _setup_model(s3, run_id, column, auc)
    result["decision"] = registry.compare_with_champion(_run(s3, run_id), result, TEST, margin)
    return result, artifacts


# --- SUSPICIOUS: held back for a person -------------------------------------------------------------------

LEAK = "column 'copy' alone ranks the target with AUC 1.0000 (>= 0.99)"


def test_a_suspicious_model_the_rules_would_promote_is_held_for_a_person():
    suspicious = scored(0.99, Verdict.SUSPICIOUS, suspicions=[LEAK])
    decision = registry.decision_against(suspicious, ChampionScore("old", 0.936), "etag", MARGIN)
    assert (decision["promote"], decision["review"]) == (False, True)
    assert decision["reason"] == (
        f"SUSPICIOUS, not promoted without a person: {LEAK} "
        "(the rules alone: challenger AUC 0.9900 >= champion 0.9360 + margin 0.002)"
    )
    # Approved by a person: judged as a PASS.
    approved = registry.decision_against(suspicious, ChampionScore("old", 0.936), "etag", MARGIN, approved=True)
    assert (approved["promote"], approved["review"]) == (True, False)
    # Not better than the champion anyway: nothing for a person to decide.
    worse = registry.decision_against(
        scored(0.93, Verdict.SUSPICIOUS, suspicions=[LEAK]), ChampionScore("old", 0.936), "etag", MARGIN
    )
    assert (worse["promote"], worse["review"]) == (False, False)
    assert worse["reason"].startswith("SUSPICIOUS, not promoted without a person: ")
    # A plain PASS is untouched by the rule.
    plain = registry.decision_against(scored(0.99), ChampionScore("old", 0.936), "etag", MARGIN)
    assert (plain["promote"], plain["review"]) == (True, False)


def test_a_person_is_asked_about_a_held_suspicious_model_only_when_approval_is_required():
    held = {"promote": False, "review": True}
    assert approval.needs_person("required", held) is True  # type: ignore[arg-type]
    assert approval.needs_person("auto", held) is False  # type: ignore[arg-type]
    assert approval.needs_person("required", {"promote": False, "review": False}) is False  # type: ignore[arg-type]


# --- decide ---------------------------------------------------------------------------------------------


def test_decide_rules():
    champion = ChampionScore("old", 0.936)
    assert registry.decide(scored(0.95, Verdict.BELOW_BASELINE, ("f1",)), None, MARGIN) == (
        False,
        "below baseline on f1; champion kept",
    )
    assert registry.decide(scored(0.93), None, MARGIN)[0] is True
    kept = registry.decide(scored(0.931), champion, MARGIN)
    assert kept == (False, "challenger AUC 0.9310 < champion 0.9360 + margin 0.002")
    won = registry.decide(scored(0.94), champion, MARGIN)
    assert won == (True, "challenger AUC 0.9400 >= champion 0.9360 + margin 0.002")
    # Inside the margin is not enough.
    assert registry.decide(scored(0.937), champion, MARGIN)[0] is False
    unscored = ChampionScore("old", None, "champion old cannot score this run's rows")
    promote, reason = registry.decide(scored(0.93), unscored, 0.0)
    assert promote is True and "cannot score" in reason


def test_decide_explains_a_first_champion_and_lists_every_failed_metric():
    assert registry.decide(scored(0.93), None, MARGIN) == (
        True,
        "first champion: no model promoted yet; AUC 0.9300 passes",
    )
    below = scored(0.99, Verdict.BELOW_BASELINE, ("precision", "recall"))
    assert registry.decide(below, ChampionScore("old", 0.5), MARGIN) == (
        False,
        "below baseline on precision, recall; champion kept",
    )


def test_decide_at_exactly_the_margin_promotes():
    assert registry.decide(scored(0.9), ChampionScore("old", 0.85), 0.05)[0] is True


@pytest.mark.parametrize("verdict", ["PASS", Verdict.PASS], ids=["json-string", "enum"])
def test_decide_reads_the_verdict_as_stored_in_json_or_as_the_enum(verdict):
    assert registry.decide({**scored(0.9), "verdict": verdict}, None, MARGIN)[0] is True


# --- compare_with_champion, promote, keep ---------------------------------------------------------------


def test_first_run_promotes_and_records_history(s3, split):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "fair", 0.8125)
    assert result["decision"]["champion_run_id"] is None
    assert result["decision"]["champion_etag"] is None

    final = registry.promote(_run(s3, "run-1"), split, result, artifacts, AUTO)

    assert final["promote"] is True
    champion = _champion(s3)
    assert set(champion) == Champion.__required_keys__ | Champion.__optional_keys__
    assert champion["run_id"] == "run-1"
    assert champion["model_uri"] == artifacts["model_uri"]
    assert champion["model_json_uri"] == artifacts["model_json_uri"]
    assert champion["profile_uri"] == artifacts["profile_uri"]  # what later drift checks compare with
    assert champion["sha256"] == result["sha256"]
    assert champion["threshold"] == pytest.approx(0.3)
    # Both rules' thresholds and the economics go with it: the scoring DAG may label at either.
    assert champion["threshold_rule"] == "f1"
    assert champion["thresholds"] == {"f1": 0.3, "profit": 0.1}
    assert champion["economics"] == ECONOMICS
    assert champion["metrics"] == {"auc": 0.8125, "f1": 0.6, "precision": 0.6, "recall": 0.6, "accuracy": 0.9}
    assert champion["previous_run_id"] is None
    assert champion["reason"] == final["reason"]
    assert datetime.fromisoformat(champion["promoted_at"]).utcoffset().total_seconds() == 0
    history = _history(s3, "run-1")
    assert history["decision"] == registry.PROMOTED == "promoted"
    assert {k: history[k] for k in ("run_id", "family", "challenger_auc", "champion_run_id", "margin", "sha256")} == {
        "run_id": "run-1",
        "family": "random_forest",
        "challenger_auc": 0.8125,
        "champion_run_id": None,
        "margin": MARGIN,
        "sha256": result["sha256"],
    }


def test_compare_with_champion_returns_the_decision_and_its_context(s3):
    result, _ = _setup_model(s3, "run-1", "fair", 0.8125)

    decision = registry.compare_with_champion(_run(s3, "run-1"), result, TEST, 0.01)

    # Every key but the approval record, which the gate adds later.
    assert set(decision) == (Decision.__required_keys__ | Decision.__optional_keys__) - {"approval"}
    assert decision == {
        "promote": True,
        "reason": "first champion: no model promoted yet; AUC 0.8125 passes",
        "margin": 0.01,
        "challenger_auc": 0.8125,
        "champion_run_id": None,
        "champion_auc": None,
        "champion_etag": None,
        "review": False,
    }


def test_score_champion_rescores_the_champion_on_the_given_rows(s3, split):
    first, first_artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(_run(s3, "run-1"), split, first, first_artifacts, AUTO)
    champion, etag = registry.read_champion(s3, BUCKET)

    assert etag
    assert registry.score_champion(s3, champion, TEST) == ChampionScore("run-1", 1.0)
    assert registry.score_champion(s3, champion, TEST.assign(good=TEST["fair"])) == ChampionScore("run-1", 0.8125)


def test_read_champion_before_the_first_promotion(s3):
    assert registry.read_champion(s3, BUCKET) == (None, None)


def test_challenger_is_compared_with_the_champion_rescored_on_the_same_rows(s3, split):
    first, first_artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(_run(s3, "run-1"), split, first, first_artifacts, AUTO)

    second, _ = _evaluate_and_decide(s3, "run-2", "fair", 0.8125)

    assert second["decision"]["champion_run_id"] == "run-1"
    assert second["decision"]["champion_auc"] == pytest.approx(1.0)  # re-scored here, not copied
    assert second["decision"]["promote"] is False
    assert second["decision"]["reason"] == "challenger AUC 0.8125 < champion 1.0000 + margin 0.002"
    final = registry.keep(_run(s3, "run-2"), second, NOT_ASKED)
    assert final["promote"] is False
    assert final["reason"] == second["decision"]["reason"]  # keep records the evaluation's own decision
    assert _champion(s3)["run_id"] == "run-1"
    assert _history(s3, "run-2")["decision"] == registry.KEPT == "kept_champion"
    assert _history(s3, "run-2")["reason"] == second["decision"]["reason"]
    assert _history(s3, "run-2")["champion_auc"] == pytest.approx(1.0)


def test_keep_records_a_given_decision_instead_of_the_evaluations(s3):
    result, _ = _evaluate_and_decide(s3, "run-1", "fair", 0.8125)
    assert result["decision"]["promote"] is True
    other = {**result["decision"], "reason": "re-decided"}

    final = registry.keep(_run(s3, "run-1"), result, NOT_ASKED, other)

    assert (final["promote"], final["reason"]) == (False, "re-decided")
    assert _history(s3, "run-1")["decision"] == "kept_champion"
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix=CHAMPION_KEY).get("Contents")  # pointer untouched


def test_racing_promotions_never_leave_the_pointer_on_the_loser(s3, split):
    # Both runs were evaluated while there was no champion; both decided to promote.
    strong, strong_artifacts = _evaluate_and_decide(s3, "strong", "good", 1.0)
    weak, weak_artifacts = _evaluate_and_decide(s3, "weak", "fair", 0.8125)
    assert strong["decision"]["promote"] and weak["decision"]["promote"]

    registry.promote(_run(s3, "strong"), split, strong, strong_artifacts, AUTO)
    # The weak run promotes with a stale view: its conditional write must not win.
    final = registry.promote(_run(s3, "weak"), split, weak, weak_artifacts, AUTO)

    assert final["promote"] is False
    assert final["reason"] == "challenger AUC 0.8125 < champion 1.0000 + margin 0.002"
    assert final["champion_run_id"] == "strong"
    assert _champion(s3)["run_id"] == "strong"
    assert _history(s3, "weak")["decision"] == "kept_champion"
    assert _history(s3, "strong")["decision"] == "promoted"


def test_a_better_late_challenger_replaces_the_race_winner(s3, split):
    weak, weak_artifacts = _evaluate_and_decide(s3, "weak", "fair", 0.8125)
    strong, strong_artifacts = _evaluate_and_decide(s3, "strong", "good", 1.0)

    registry.promote(_run(s3, "weak"), split, weak, weak_artifacts, AUTO)
    final = registry.promote(_run(s3, "strong"), split, strong, strong_artifacts, AUTO)

    assert final["promote"] is True
    assert final["reason"] == "challenger AUC 1.0000 >= champion 0.8125 + margin 0.002"
    champion = _champion(s3)
    assert (champion["run_id"], champion["previous_run_id"]) == ("strong", "weak")
    assert _history(s3, "strong")["champion_run_id"] == "weak"


def test_pointer_write_is_conditional(s3):
    doc = {"run_id": "x"}
    registry._put_pointer(s3, BUCKET, doc, None)
    with pytest.raises(registry.ChampionChangedError):
        registry._put_pointer(s3, BUCKET, doc, None)  # If-None-Match: * fails once a champion exists
    with pytest.raises(registry.ChampionChangedError):
        registry._put_pointer(s3, BUCKET, doc, '"not-the-etag"')


def test_promote_gives_up_when_the_pointer_keeps_changing(s3, split, monkeypatch):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    calls = []

    def always_changed(*args):
        calls.append(args)
        raise registry.ChampionChangedError("changed")

    monkeypatch.setattr(registry, "_put_pointer", always_changed)

    with pytest.raises(registry.ChampionChangedError, match="gave up after 5 attempts"):
        registry.promote(_run(s3, "run-1"), split, result, artifacts, AUTO)

    assert len(calls) == registry.MAX_PROMOTION_ATTEMPTS
    assert all_keys(s3) == sorted(["runs/run-1/model.joblib", "runs/shared/test.parquet"])  # no history line


def test_rerun_of_a_promoted_run_is_idempotent(s3, split):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(_run(s3, "run-1"), split, result, artifacts, AUTO)
    before = _champion(s3)
    keys_before = all_keys(s3)

    # A cleared and re-run promote task: same run, stale decision (it saw no champion).
    final = registry.promote(_run(s3, "run-1"), split, result, artifacts, AUTO)

    assert final["promote"] is True
    assert _champion(s3) == before
    assert all_keys(s3) == keys_before  # one history line per run, replaced rather than added
    assert [k for k in keys_before if k.startswith("models/history/")] == [history_key("run-1")]


def test_a_tampered_champion_stops_the_comparison(s3, split):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(_run(s3, "run-1"), split, result, artifacts, AUTO)
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/model.joblib", Body=b"not the promoted pickle")

    challenger, _ = _setup_model(s3, "run-2", "fair", 0.8125)
    with pytest.raises(storage.IntegrityError, match="does not match the recorded"):
        registry.compare_with_champion(_run(s3, "run-2"), challenger, TEST, MARGIN)


def test_a_champion_that_cannot_score_new_columns_yields(s3, split):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    registry.promote(_run(s3, "run-1"), split, result, artifacts, AUTO)

    challenger, _ = _setup_model(s3, "run-2", "fair", 0.8125)
    decision = registry.compare_with_champion(_run(s3, "run-2"), challenger, TEST.drop(columns=["good"]), MARGIN)

    assert decision["promote"] is True
    assert decision["champion_auc"] is None
    assert decision["champion_run_id"] == "run-1"
    assert "champion run-1 cannot score this run's rows" in decision["reason"]


def test_below_baseline_never_promotes_even_without_champion(s3):
    result, _ = _setup_model(s3, "run-1", "fair", 0.8125, verdict="BELOW_BASELINE")
    decision = registry.compare_with_champion(_run(s3, "run-1"), result, TEST, MARGIN)

    assert decision["promote"] is False
    assert decision["reason"].startswith("below baseline")
