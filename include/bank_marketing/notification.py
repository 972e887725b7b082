"""Notification texts: the SNS message of a finished run and the templates of the failure alerts.

No pandas or scikit-learn here: the DAG file imports the templates at parse time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from include.bank_marketing import approval as approvals
from include.bank_marketing import config
from include.bank_marketing.contracts import (
    ApprovalOutcome,
    CampaignSummary,
    Check,
    Decision,
    Evaluation,
    ReportLinks,
    RunResults,
    ScoringResult,
    Split,
    ThresholdRule,
    ValidatedInput,
    Verdict,
)

if TYPE_CHECKING:
    from include.bank_marketing.approval import ApprovalRequest

SUBJECT_PREFIX = "[bank-ml]"
# SNS rejects subjects over 100 characters.
MAX_SUBJECT = 100

# Jinja templates rendered by Airflow's SnsNotifier with the failure callback's context.
TASK_FAILURE_SUBJECT = SUBJECT_PREFIX + " FAILED {{ ti.task_id }} in {{ dag.dag_id }}"
TASK_FAILURE_MESSAGE = (
    "Task {{ ti.task_id }} of DAG {{ dag.dag_id }} failed (run {{ run_id }}, try {{ ti.try_number }}).\n"
    "Error: {{ exception }}\n"
)


def metrics_table(checks: dict[str, Check]) -> str:
    """Plain-text table of each metric beside its baseline."""
    rows = [f"{'metric':<10} {'value':>7} {'baseline':>9}  result"]  # 4 decimals: 0.8526 < 0.853 shows
    for name in (n for n in config.METRICS if n in checks):  # fixed order, whatever order JSON gave
        c = checks[name]
        rows.append(f"{name:<10} {c['value']:>7.4f} {c['baseline']:>9.4f}  {'ok' if c['passed'] else 'BELOW'}")
    return "\n".join(rows)


def _threshold_line(evaluation: Evaluation) -> str:
    at = evaluation["metrics_at_threshold"]
    rule = ThresholdRule(evaluation["threshold_rule"])
    return (
        f"At the chosen threshold {evaluation['threshold']:.4f} ({rule.description}): F1 {at['f1']:.4f}, "
        f"precision {at['precision']:.4f}, recall {at['recall']:.4f}, accuracy {at['accuracy']:.4f}"
    )


def top_share_line(summary: CampaignSummary, share: float = 0.2) -> str:
    """One sentence: calling the top ``share`` reaches X % of subscribers (lift Y)."""
    at = next((g for g in summary["gains"] if math.isclose(g["share_called"], share)), None)
    if at is None:
        return f"Calling the top {share:.0%}: not computed."
    return (
        f"Calling the top {share:.0%} of customers reaches {at['share_reached']:.0%} of subscribers "
        f"(lift {at['lift']:.1f})."
    )


def campaign_lines(summary: CampaignSummary) -> list[str]:
    """The campaign in three lines: the top 20 %'s reach, the expected profit at each threshold, the columns."""
    money = summary["economics"]
    profits = "; ".join(
        f"{p['rule']} threshold {p['threshold']:.4f}: {p['calls']:,} calls, {p['profit']:,.0f}"
        for p in summary["profit"]
    )
    return [
        top_share_line(summary),
        f"Expected profit on the test rows (call {money['cost_per_call']:g}, subscription "
        f"{money['value_per_subscription']:g}): {profits}.",
        "Columns that matter most: " + ", ".join(summary["top_columns"]) + ".",
    ]


def data_quality_line(validated: ValidatedInput, split: Split) -> str:
    """The input's repeated rows, what was done with them, and the split's overlap, in one sentence."""
    found = validated.get("duplicates")
    if found is None:  # a run validated before the duplicate check existed
        return "Data quality: not checked."
    done = f"{found['dropped_rows']:,} dropped, the first of each kept" if found["dropped_rows"] else "none dropped"
    return (
        f"Data quality: {found['exact_rows']:,} repeated rows ({done}; duplicates={found['policy']}), "
        f"{found['conflicting_rows']:,} rows with the same features and another outcome; trained on "
        f"{validated['rows']:,} rows; test rows sharing their features with a training row: "
        f"{split.get('overlap_rows', 'not checked')}."
    )


def compose(run_id: str, results: RunResults, report: ReportLinks | None = None) -> tuple[str, str]:
    """Subject and body of the run's SNS message: verdict, AUC and promotion up front, then every metric
    beside its baseline, the champion comparison, the drift summary, the report and the artifact URIs."""
    evaluation, decision, drift = results["evaluation"], results["decision"], results["drift"]
    metrics = evaluation["metrics"]
    verdict = Verdict(evaluation["verdict"]).label
    subject = f"{SUBJECT_PREFIX} {verdict} AUC {metrics['auc']:.3f} {evaluation['family']}, {outcome(decision)}"
    cm = metrics["confusion_matrix"]
    lines = [
        f"Run {run_id}: {verdict}. Test AUC {metrics['auc']:.4f} on {metrics['rows']} held-out rows.",
        f"{'Promoted to champion' if decision['promote'] else 'Not promoted, champion kept'}: {decision['reason']}",
        approvals.summary(decision.get("approval")),
        *(f"Suspicious: {why}" for why in evaluation.get("suspicions", [])),
        data_quality_line(results["validated"], results["split"]),
        "",
        metrics_table(evaluation["checks"]),
        "",
        f"Winning family: {evaluation['family']} (CV AUC {evaluation['cv_auc']:.4f})",
        f"Params: {evaluation['best_params']}",
        "Leaderboard (CV AUC): " + ", ".join(f"{c['family']} {c['cv_auc']:.4f}" for c in evaluation["leaderboard"]),
        f"Confusion matrix at threshold {metrics['threshold']}: "
        f"TN {cm['tn']}  FP {cm['fp']}  FN {cm['fn']}  TP {cm['tp']}",
        "",
        _threshold_line(evaluation),
        "",
        *campaign_lines(results["campaign"]),
        "",
        f"Drift against the champion's training data: {drift['summary']}",
        "",
        *([f"Report: {report['report_uri']}"] if report else []),
        *([report_link_line(report)] if report else []),
        "Artifacts:",
        *(f"  {name}: {uri}" for name, uri in results["artifacts"].items() if name.endswith("_uri")),
    ]
    return subject[:MAX_SUBJECT], "\n".join(lines) + "\n"


def report_link_line(links: ReportLinks) -> str:
    """The report's presigned link with when it really stops working, or why there is none."""
    if not links["report_url"]:
        return "Report link: none (the connection cannot sign links; open the report with S3 credentials)"
    why = "when the credentials that signed it expire" if links["report_url_capped"] else "its lifetime"
    return f"Report link (valid until {links['report_url_expires_at']}, {why}): {links['report_url']}"


def outcome(decision: Decision) -> str:
    """The decision in a few words for a subject line: promoted, or why the champion was kept."""
    if decision["promote"]:
        return "promoted"
    gate = decision.get("approval")
    if gate and gate["outcome"] == ApprovalOutcome.REJECTED:
        return "rejected, champion kept"
    if gate and gate["outcome"] == ApprovalOutcome.TIMED_OUT:
        return "no approval, champion kept"
    return "champion kept"


def approval_requested(run_id: str, request: ApprovalRequest, link: str | None) -> tuple[str, str]:
    """Subject and body of the SNS message sent when a run starts waiting for a person's approval."""
    subject = f"{SUBJECT_PREFIX} APPROVAL NEEDED: {request['subject']}"[:MAX_SUBJECT]
    where = (
        link or "the run's approve task in the Airflow UI (Browse > Required Actions; set [api] base_url for a link)"
    )
    lines = [
        f"Run {run_id} waits for a person to approve or reject promoting its model.",
        f"Decide here: {where}",
        f"Without an answer by {request['due']} the champion is kept.",
        "",
        request["body"],
    ]
    return subject, "\n".join(lines)


def late_run(
    dag_id: str, run_id: str, deadline: str, stuck: list[str] | None, why_unknown: str | None = None
) -> tuple[str, str]:
    """Subject and body of the deadline alert: the run that is late and the tasks it is stuck in."""
    where = ", ".join(stuck) if stuck else None
    subject = f"{SUBJECT_PREFIX} LATE {dag_id}: " + (where or "run not finished")
    lines = [
        f"DAG run {run_id} of {dag_id} had not finished by its deadline {deadline}.",
        f"Stuck in: {where}." if where else f"Stuck in: unknown ({why_unknown or 'no task is active'}).",
        "The run goes on; this alert is sent once per run.",
    ]
    return subject[:MAX_SUBJECT], "\n".join(lines) + "\n"


def run_failure(dag_id: str, run_id: str, reason: str, task_id: str | None, log_url: str | None) -> tuple[str, str]:
    """Subject and body of the run-level failure alert (the task-level alert carries the error text)."""
    subject = f"{SUBJECT_PREFIX} RUN FAILED {dag_id}"[:MAX_SUBJECT]
    lines = [
        f"DAG run {run_id} of {dag_id} failed ({reason}).",
        f"Failed task: {task_id or 'unknown'}.",
        "The task's own alert and its log carry the error.",
    ]
    if log_url:
        lines.append(f"Log: {log_url}")
    return subject, "\n".join(lines) + "\n"


def scoring_report(result: ScoringResult) -> tuple[str, str]:
    """Subject and body of the scoring DAG's SNS message: rows scored, the share labelled positive, and the
    call list with its expected subscriptions and profit."""
    share = f"{100 * result['positive_share']:.1f}%"
    money = result["economics"]
    subject = f"{SUBJECT_PREFIX} SCORED {result['rows']} rows, {share} positive"[:MAX_SUBJECT]
    body = (
        f"Scored {result['rows']} customers from {result['input_uri']}.\n"
        f"Predicted positive: {result['positives']} ({share}) at threshold {result['threshold']:.4f} "
        f"({ThresholdRule(result['threshold_rule']).description}).\n"
        f"Call list: {result['calls']} customers, expected subscriptions {result['expected_subscriptions']:,.1f}, "
        f"expected profit {result['expected_profit']:,.0f} (call {money['cost_per_call']:g}, "
        f"subscription {money['value_per_subscription']:g}).\n"
        f"Model: champion of run {result['champion_run_id']} ({result['family']}).\n"
        f"Predictions: {result['predictions_uri']}\n"
        f"Call list file: {result['call_list_uri']}\n"
    )
    return subject, body
