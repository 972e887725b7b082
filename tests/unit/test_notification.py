"""notification: the SNS subject and body of a finished run, and the failure templates."""

from __future__ import annotations

from types import SimpleNamespace

import jinja2
import pytest

from include.bank_marketing import config, notification
from include.bank_marketing.contracts import Verdict
from tests.support.builders import campaign_summary, threshold_keys

RUN_ID = "manual__2026-11-28T05:34:00+00:00"
ARTIFACTS = {
    "model_uri": "s3://bank-ml/runs/r/model.joblib",
    "model_json_uri": "s3://bank-ml/runs/r/model.json",
    "metrics_uri": "s3://bank-ml/runs/r/metrics.json",
    "new_csv_uri": "s3://bank-ml/runs/r/new.csv",
    "latest_new_csv_uri": "s3://bank-ml/new.csv",
    "profile_uri": "s3://bank-ml/runs/r/profile.json",
    "predictions_rows": 9043,
}
DRIFT = {
    "drift_uri": "s3://bank-ml/runs/r/drift.json",
    "summary": "drift in 1 column: duration PSI 0.41 (threshold 0.2)",
    "drifted": [{"column": "duration", "psi": 0.41}],
    "max_psi": 0.41,
    "threshold": 0.2,
    "champion_run_id": "scheduled__2026-11-27T00:00:00+00:00",
}
REPORT = {
    "report_uri": "s3://bank-ml/runs/r/report.html",
    "report_url": "https://bank-ml.s3.amazonaws.com/runs/r/report.html?X-Amz-Signature=abc",
    "report_url_expires_at": "2026-11-29T06:00:00+00:00",
    "report_url_capped": False,
    "chart_uris": {"roc.png": "s3://bank-ml/runs/r/roc.png"},
}


def make_evaluation(metrics: dict[str, float], family: str = "hist_gradient_boosting", rule: str = "f1") -> dict:
    """An evaluate_candidates-shaped result (checks and verdict computed as the pipeline does), its operating
    point the threshold of ``rule``: 0.3 (max F1) or 0.0712 (max profit)."""
    checks = {
        name: {
            "value": metrics[name],
            "baseline": config.BASELINES[name],
            "passed": metrics[name] >= config.BASELINES[name],
        }
        for name in config.METRICS
    }
    point = threshold_keys(0.3, 0.0712, rule)
    return {
        "family": family,
        "best_params": {"learning_rate": 0.1, "max_leaf_nodes": 31},
        "cv_auc": 0.9312,
        "metrics": {
            **metrics,
            "threshold": 0.5,
            "rows": 9043,
            "confusion_matrix": {"tn": 7800, "fp": 185, "fn": 560, "tp": 498},
        },
        **point,
        "metrics_at_threshold": {**metrics, "f1": 0.6012, "recall": 0.6458, "threshold": point["threshold"]},
        "checks": checks,
        "verdict": "PASS" if all(c["passed"] for c in checks.values()) else "BELOW_BASELINE",
        "leaderboard": [
            {"family": "hist_gradient_boosting", "cv_auc": 0.9312, "fit_seconds": 12.0},
            {"family": "logistic_regression", "cv_auc": 0.9011, "fit_seconds": 3.0},
        ],
        "decision": PROMOTED,
    }


PROMOTED = {"promote": True, "reason": "first champion: no model promoted yet; AUC 0.9281 passes"}
KEPT = {"promote": False, "reason": "challenger AUC 0.9281 < champion 0.9300 + margin 0.002"}
CONFUSION = {"tn": 7800, "fp": 185, "fn": 560, "tp": 498}
GOOD = {"auc": 0.9281, "f1": 0.5712, "precision": 0.6603, "recall": 0.4707, "accuracy": 0.9176}
WEAK = {**GOOD, "recall": 0.1234}


def make_results(
    evaluation: dict, decision: dict, artifacts: dict = ARTIFACTS, drift: dict = DRIFT, campaign: dict | None = None
) -> dict:
    """RunResults as the notify task assembles them; ``decision`` is the final one (the branch that ran), the
    campaign summary that of the evaluation's threshold rule unless given."""
    return {
        "validated": {},
        "drift": drift,
        "split": {},
        "candidates": [],
        "evaluation": evaluation,
        "artifacts": artifacts,
        "campaign": campaign or campaign_summary(evaluation.get("threshold_rule", "f1")),
        "decision": decision,
    }


def compose(metrics: dict[str, float], decision: dict, report: dict | None = None, **evaluation) -> tuple[str, str]:
    return notification.compose(RUN_ID, make_results(make_evaluation(metrics, **evaluation), decision), report)


def test_subject_of_a_passing_run():
    subject, _ = compose(GOOD, PROMOTED)

    assert subject.startswith("[bank-ml] PASS AUC 0.9")
    assert subject == "[bank-ml] PASS AUC 0.928 hist_gradient_boosting, promoted"


def test_subject_of_a_run_below_baseline():
    subject, _ = compose(WEAK, KEPT)

    assert subject == "[bank-ml] BELOW BASELINE AUC 0.928 hist_gradient_boosting, champion kept"
    assert Verdict.BELOW_BASELINE.label in subject


@pytest.mark.parametrize("metrics", [GOOD, WEAK])
def test_subject_is_one_line_of_at_most_100_characters(metrics):
    subject, _ = compose(metrics, KEPT, family="f" * 300)

    assert len(subject) == notification.MAX_SUBJECT == 100
    assert "\n" not in subject
    assert subject.startswith("[bank-ml] ")


def test_subject_and_body_follow_the_final_decision_not_the_evaluations():
    # evaluate decided to promote; promote lost a race and kept the champion: the message says what happened.
    evaluation = make_evaluation(GOOD)
    assert evaluation["decision"]["promote"] is True

    subject, body = notification.compose(RUN_ID, make_results(evaluation, KEPT))

    assert subject.endswith(", champion kept")
    assert f"Not promoted, champion kept: {KEPT['reason']}" in body
    assert PROMOTED["reason"] not in body


def test_body_lists_every_metric_with_its_baseline():
    _, body = compose(WEAK, KEPT)
    lines = body.splitlines()

    for name in config.METRICS:
        row = next(line for line in lines if line.split()[:1] == [name])
        value, baseline, result = row.split()[1:]
        assert float(value) == pytest.approx(WEAK[name], abs=5e-4)
        assert float(baseline) == pytest.approx(config.BASELINES[name], abs=5e-4)
        assert result == ("BELOW" if name == "recall" else "ok")


def test_body_states_the_promotion_decision_and_why():
    _, body = compose(GOOD, KEPT)

    assert f"Not promoted, champion kept: {KEPT['reason']}" in body
    _, body = compose(GOOD, PROMOTED)
    assert f"Promoted to champion: {PROMOTED['reason']}" in body


def test_body_lists_every_uri_artifact_and_nothing_else():
    _, body = compose(GOOD, PROMOTED)

    for name, value in ARTIFACTS.items():
        if name.endswith("_uri"):
            assert f"  {name}: {value}" in body
    assert "predictions_rows" not in body
    assert body.endswith("\n")


def test_body_summary_lines():
    _, body = compose(WEAK, KEPT)

    assert body.startswith(f"Run {RUN_ID}: BELOW BASELINE. Test AUC 0.9281 on 9043 held-out rows.\n")
    assert "Winning family: hist_gradient_boosting (CV AUC 0.9312)" in body
    assert "Params: {'learning_rate': 0.1, 'max_leaf_nodes': 31}" in body
    assert "Leaderboard (CV AUC): hist_gradient_boosting 0.9312, logistic_regression 0.9011" in body
    assert "Confusion matrix at threshold 0.5: TN 7800  FP 185  FN 560  TP 498" in body


def test_body_states_the_chosen_threshold_and_its_metrics():
    _, body = compose(GOOD, PROMOTED)

    assert (
        "At the chosen threshold 0.3000 (max F1 on training folds): F1 0.6012, precision 0.6603, "
        "recall 0.6458, accuracy 0.9176"
    ) in body


def test_body_states_a_profit_threshold_as_chosen_by_profit():
    _, body = compose(GOOD, PROMOTED, rule="profit")

    assert "At the chosen threshold 0.0712 (max expected profit on training folds): F1 0.6012" in body
    assert "max F1" not in body


def test_body_has_the_campaign_lines_between_the_threshold_and_the_drift():
    _, body = compose(GOOD, PROMOTED)

    assert "\nCalling the top 20% of customers reaches 62% of subscribers (lift 3.1).\n" in body
    assert (
        "\nExpected profit on the test rows (call 5, subscription 100): f1 threshold 0.3000: 1,000 calls, 51,000; "
        "profit threshold 0.0712: 2,600 calls, 75,000.\n"
    ) in body
    assert "\nColumns that matter most: duration, poutcome, month.\n" in body
    assert body.index("At the chosen threshold") < body.index("Calling the top 20%") < body.index("Drift against")


def test_body_lists_the_operating_points_profit_first():
    _, body = compose(GOOD, PROMOTED, rule="profit")

    assert "(call 5, subscription 100): profit threshold 0.0712: 2,600 calls, 75,000; f1 threshold 0.3000:" in body


def test_top_share_line_reads_the_20_percent_row_of_the_gains():
    summary = campaign_summary(
        gains=[
            {"share_called": 0.1, "share_reached": 0.3, "lift": 3.0},
            {"share_called": 0.2, "share_reached": 0.5349, "lift": 2.6745},  # not the first nor the last row
            {"share_called": 0.3, "share_reached": 0.7, "lift": 2.33},
        ]
    )

    assert notification.top_share_line(summary) == (
        "Calling the top 20% of customers reaches 53% of subscribers (lift 2.7)."
    )
    assert (
        notification.top_share_line(summary, 0.1)
        == "Calling the top 10% of customers reaches 30% of subscribers (lift 3.0)."
    )


def test_top_share_line_without_the_20_percent_row_says_so():
    summary = campaign_summary(gains=[{"share_called": 0.1, "share_reached": 0.41, "lift": 4.1}])

    assert notification.top_share_line(summary) == "Calling the top 20%: not computed."


def test_body_carries_the_drift_summary():
    _, body = compose(GOOD, PROMOTED)

    assert f"Drift against the champion's training data: {DRIFT['summary']}\n" in body


def test_body_links_the_report_when_there_is_one():
    _, body = compose(GOOD, PROMOTED, REPORT)

    assert f"Report: {REPORT['report_uri']}\n" in body
    assert f"Report link (valid until 2026-11-29T06:00:00+00:00, its lifetime): {REPORT['report_url']}\n" in body
    assert body.index("Report: ") < body.index("Artifacts:")


def test_body_says_a_link_dies_with_the_credentials_that_signed_it():
    _, body = compose(GOOD, PROMOTED, {**REPORT, "report_url_capped": True})

    assert "Report link (valid until 2026-11-29T06:00:00+00:00, when the credentials that signed it expire): " in body


def test_body_without_a_presigned_link_shows_the_report_uri_and_says_why():
    _, body = compose(GOOD, PROMOTED, {**REPORT, "report_url": None, "report_url_expires_at": None})

    assert f"Report: {REPORT['report_uri']}\n" in body
    assert "Report link: none (the connection cannot sign links; open the report with S3 credentials)\n" in body
    assert "http" not in body


def test_body_without_a_report():
    _, body = compose(GOOD, PROMOTED, None)

    assert "Report" not in body


def test_metrics_table():
    table = notification.metrics_table({"auc": {"value": 0.9, "baseline": 0.853, "passed": True}})

    assert table.splitlines() == ["metric       value  baseline  result", "auc         0.9000    0.8530  ok"]


def test_metrics_table_lists_metrics_in_the_reported_order():
    checks = {name: {"value": 0.5, "baseline": 0.4, "passed": True} for name in reversed(config.METRICS)}

    rows = notification.metrics_table(checks).splitlines()[1:]

    assert [row.split()[0] for row in rows] == list(config.METRICS)


def render(template: str, **context) -> str:
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(**context)


def test_task_failure_templates_render_with_a_callback_context():
    ti = SimpleNamespace(task_id="validate", try_number=2)
    dag = SimpleNamespace(dag_id="bank_marketing_training")

    subject = render(notification.TASK_FAILURE_SUBJECT, ti=ti, dag=dag)
    message = render(notification.TASK_FAILURE_MESSAGE, ti=ti, dag=dag, run_id=RUN_ID, exception="boom")

    assert subject == "[bank-ml] FAILED validate in bank_marketing_training"
    # (Jinja drops the template's final newline by default.)
    assert message == f"Task validate of DAG bank_marketing_training failed (run {RUN_ID}, try 2).\nError: boom"


def test_run_failure_names_the_run_the_reason_and_the_task():
    subject, body = notification.run_failure(
        "bank_marketing_training", RUN_ID, "task_failure", "train_family", "http://airflow/log/1"
    )

    assert subject == "[bank-ml] RUN FAILED bank_marketing_training"
    assert body.splitlines() == [
        f"DAG run {RUN_ID} of bank_marketing_training failed (task_failure).",
        "Failed task: train_family.",
        "The task's own alert and its log carry the error.",
        "Log: http://airflow/log/1",
    ]


def test_run_failure_without_a_task_or_log_url():
    subject, body = notification.run_failure("d" * 200, RUN_ID, "timeout", None, None)

    assert len(subject) == 100
    assert "\n" not in subject
    assert "Failed task: unknown." in body
    assert "Log:" not in body


SCORED = {
    "input_uri": "s3://bank-ml/scoring/2026-11-28/customers.csv",
    "predictions_uri": "s3://bank-ml/scoring/2026-11-28/predictions.csv",
    "rows": 1200,
    "positives": 150,
    "positive_share": 0.125,
    "threshold": 0.2885,
    "threshold_rule": "f1",
    "champion_run_id": "scheduled__2026-11-27T00:00:00+00:00",
    "family": "hist_gradient_boosting",
    "call_list_uri": "s3://bank-ml/scoring/2026-11-28/call_list.csv",
    "calls": 150,
    "expected_subscriptions": 61.3,
    "expected_profit": 5380.0,  # 100 x 61.3 - 5 x 150
    "economics": {"cost_per_call": 5.0, "value_per_subscription": 100.0},
}


def test_scoring_report_states_rows_share_threshold_and_model():
    subject, body = notification.scoring_report(SCORED)

    assert subject == "[bank-ml] SCORED 1200 rows, 12.5% positive"
    assert body.splitlines() == [
        f"Scored 1200 customers from {SCORED['input_uri']}.",
        "Predicted positive: 150 (12.5%) at threshold 0.2885 (max F1 on training folds).",
        "Call list: 150 customers, expected subscriptions 61.3, expected profit 5,380 (call 5, subscription 100).",
        f"Model: champion of run {SCORED['champion_run_id']} (hist_gradient_boosting).",
        f"Predictions: {SCORED['predictions_uri']}",
        f"Call list file: {SCORED['call_list_uri']}",
    ]


def test_scoring_report_of_a_top_k_call_list_at_the_profit_threshold():
    # top_k 2,000 of 12,000 customers at the profit threshold; the calls cost more than they bring.
    scored = SCORED | {
        "rows": 12000,
        "positives": 4800,
        "positive_share": 0.4,
        "threshold": 0.0712,
        "threshold_rule": "profit",
        "calls": 2000,
        "expected_subscriptions": 1234.56,
        "expected_profit": -1145.6,  # 80 x 1,234.56 - 50 x 2,000
        "economics": {"cost_per_call": 50.0, "value_per_subscription": 80.0},
    }

    subject, body = notification.scoring_report(scored)

    assert subject == "[bank-ml] SCORED 12000 rows, 40.0% positive"
    assert "Predicted positive: 4800 (40.0%) at threshold 0.0712 (max expected profit on training folds).\n" in body
    assert (
        "Call list: 2000 customers, expected subscriptions 1,234.6, expected profit -1,146 "
        "(call 50, subscription 80).\n"
    ) in body
    assert body.endswith(f"Call list file: {SCORED['call_list_uri']}\n")


def test_body_counts_the_repeated_rows_and_what_was_done_with_them():
    results = make_results(make_evaluation(GOOD), PROMOTED)
    results["validated"] = {
        "rows": 45211,
        "duplicates": {"policy": "drop", "exact_rows": 45211, "conflicting_rows": 3, "dropped_rows": 45211},
    }
    results["split"] = {"overlap_rows": 0}

    _, body = notification.compose(RUN_ID, results)

    assert (
        "Data quality: 45,211 repeated rows (45,211 dropped, the first of each kept; duplicates=drop), 3 rows with "
        "the same features and another outcome; trained on 45,211 rows; test rows sharing their features with a "
        "training row: 0."
    ) in body
    assert "Data quality: not checked." in compose(GOOD, PROMOTED)[1]  # a run from before the check


def test_a_suspicious_run_says_so_in_the_subject_and_why_in_the_body():
    evaluation = {**make_evaluation(GOOD), "verdict": "SUSPICIOUS", "suspicions": ["column 'copy' alone ranks it"]}
    held = {"promote": False, "reason": "SUSPICIOUS, not promoted without a person: column 'copy' alone ranks it"}

    subject, body = notification.compose(RUN_ID, make_results(evaluation, held))

    assert subject == "[bank-ml] SUSPICIOUS AUC 0.928 hist_gradient_boosting, champion kept"
    assert "Suspicious: column 'copy' alone ranks it" in body
    assert "Not promoted, champion kept: SUSPICIOUS, not promoted without a person" in body
