"""The approval gate: whether a promotion waits for a person, what that person is shown, and the record of
their answer.

With the ``approval`` Param at ``required``, a challenger that the rules would promote (it passes the
baselines and beats the champion) waits in Airflow's human-in-the-loop task until a person answers
Approve or Reject, or ``approval_timeout`` passes (then the champion is kept). The request page carries all
the approver needs: the verdict, each metric beside its baseline and the champion's, the rule's reason, the
drift summary and a link to the run's report. No Airflow imports: the DAG's gate operator calls these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from include.bank_marketing import config
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import (
    Approval,
    ApprovalMode,
    ApprovalOutcome,
    Champion,
    Decision,
    ReportLinks,
    RunResults,
    ThresholdRule,
    Verdict,
)

# The two answers of the request, as the UI's buttons and the REST API's chosen_options spell them.
APPROVE = "Approve"
REJECT = "Reject"
OPTIONS = (APPROVE, REJECT)
# The request's free-text field, recorded with the answer.
COMMENT = "comment"


class ApprovalRequest(TypedDict):
    """What the approver sees: the request's subject and Markdown body, and the report they can open."""

    subject: str
    body: str
    report_uri: str
    report_url: str | None
    due: str  # ISO 8601: when an unanswered request keeps the champion


def needs_person(mode: str, decision: Decision) -> bool:
    """Whether this run's promotion waits for a person: only with ``required``, and only a promotion, or a
    SUSPICIOUS model the rules alone would have promoted (``review``: the person sees why it was held)."""
    return (decision["promote"] or decision.get("review", False)) and ApprovalMode(mode) is ApprovalMode.REQUIRED


def without_person(mode: str, decision: Decision) -> Approval:
    """The record of a run that asked nobody: promoted under ``auto``, or kept by the rules."""
    return {
        "mode": ApprovalMode(mode).value,
        "outcome": (ApprovalOutcome.AUTO if decision["promote"] else ApprovalOutcome.NOT_NEEDED).value,
        "requested_at": None,
        "responded_at": None,
        "responded_by": None,
        "comment": None,
        "timeout_seconds": None,
    }


def pending(requested_at: str | None, timeout_seconds: int) -> Approval:
    """The record while the request waits for an answer (what the preview report shows)."""
    return {
        "mode": ApprovalMode.REQUIRED.value,
        "outcome": ApprovalOutcome.PENDING.value,
        "requested_at": requested_at,
        "responded_at": None,
        "responded_by": None,
        "comment": None,
        "timeout_seconds": timeout_seconds,
    }


def from_response(requested: Approval, event: Mapping[str, Any]) -> Approval:
    """The record of the answer (or the timeout) that resumed the gate.

    ``event`` is what Airflow hands the human-in-the-loop task when it resumes: ``chosen_options``,
    ``params_input``, ``responded_at``, ``responded_by_user`` ({id, name}; None on a timeout) and
    ``timedout``. A timeout applies the request's default (Reject), but is recorded as what it is.
    """
    user = event.get("responded_by_user") or {}
    name, user_id = user.get("name"), user.get("id")
    by = f"{name} ({user_id})" if name and user_id and name != user_id else (name or user_id)
    if event.get("timedout"):
        outcome = ApprovalOutcome.TIMED_OUT
    elif list(event.get("chosen_options") or []) == [APPROVE]:
        outcome = ApprovalOutcome.APPROVED
    else:
        outcome = ApprovalOutcome.REJECTED
    at = event.get("responded_at")
    comment = (event.get("params_input") or {}).get(COMMENT)
    return {
        **requested,
        "outcome": outcome.value,
        "responded_at": at.isoformat() if isinstance(at, datetime) else at,
        "responded_by": None if outcome is ApprovalOutcome.TIMED_OUT else by,
        "comment": (str(comment).strip() or None) if comment and outcome is not ApprovalOutcome.TIMED_OUT else None,
    }


def duration(seconds: float) -> str:
    """``86400`` -> ``24 h``, ``90`` -> ``90 s``: how texts state the timeout."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def kept_reason(approval: Approval) -> str | None:
    """Why a person's answer (or its absence) kept the champion; None when the approval kept nothing."""
    outcome = ApprovalOutcome(approval["outcome"])
    if outcome is ApprovalOutcome.REJECTED:
        said = f": {approval['comment']}" if approval["comment"] else " (no comment)"
        return f"rejected by {approval['responded_by'] or 'an unnamed user'} at {approval['responded_at']}{said}"
    if outcome is ApprovalOutcome.TIMED_OUT:
        asked = f" (requested {approval['requested_at']})" if approval["requested_at"] else ""
        return f"no answer within the approval timeout of {duration(approval['timeout_seconds'] or 0)}{asked}"
    return None


def summary(approval: Approval | None) -> str:
    """One line on the approval, for the SNS message and the report."""
    if approval is None:
        return "Approval: not recorded."
    outcome = ApprovalOutcome(approval["outcome"])
    if outcome is ApprovalOutcome.AUTO:
        return "Approval: automatic (approval=auto): promoted without asking."
    if outcome is ApprovalOutcome.NOT_NEEDED:
        return f"Approval: not asked (approval={approval['mode']}): the rules kept the champion."
    if outcome is ApprovalOutcome.APPROVED:
        said = f": {approval['comment']}" if approval["comment"] else ""
        by = approval["responded_by"] or "an unnamed user"
        return f"Approval: APPROVED by {by} at {approval['responded_at']}{said}."
    if outcome is ApprovalOutcome.PENDING:
        return (
            f"Approval: awaiting a decision since {approval['requested_at']} "
            f"(timeout {duration(approval['timeout_seconds'] or 0)})."
        )
    return f"Approval: {outcome.value.replace('_', ' ').upper()}, {kept_reason(approval)}; champion kept."


def due_at(requested_at: str, timeout_seconds: int) -> str:
    """When an unanswered request lapses."""
    return (datetime.fromisoformat(requested_at) + timedelta(seconds=timeout_seconds)).isoformat()


def request_text(
    run_id: str, results: RunResults, champion: Champion | None, links: ReportLinks, due: str
) -> tuple[str, str]:
    """Subject and Markdown body of the approval request: the approver decides from this page alone."""
    evaluation, decision, drift = results["evaluation"], results["decision"], results["drift"]
    metrics = evaluation["metrics"]
    verdict = Verdict(evaluation["verdict"]).label
    subject = f"Promote {evaluation['family']} (AUC {metrics['auc']:.4f}, {verdict}) to champion?"
    at_threshold = evaluation["metrics_at_threshold"]
    rule = ThresholdRule(evaluation["threshold_rule"])
    if champion:
        replaces = f"champion of run `{champion['run_id']}` ({champion['family']}, promoted {champion['promoted_at']})"
    else:
        replaces = "no champion (this would be the first)"
    rows = [
        "| metric | challenger at 0.5 | baseline | result | champion | challenger at chosen threshold |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for name in config.METRICS:
        check = evaluation["checks"].get(name)
        if check is None:
            continue
        if name == "auc" and decision["champion_auc"] is not None:
            theirs = f"{decision['champion_auc']:.4f} (same rows)"
        elif champion and name in champion["metrics"]:
            theirs = f"{champion['metrics'][name]:.4f} (at its promotion)"
        else:
            theirs = "n/a"
        mine: Mapping[str, Any] = at_threshold
        rows.append(
            f"| {config.METRIC_TITLES[name]} | {check['value']:.4f} | {check['baseline']:.4f} | "
            f"{'ok' if check['passed'] else '**BELOW**'} | {theirs} | {mine[name]:.4f} |"
        )
    report = (
        f"[report.html]({links['report_url']}) (link valid until {links['report_url_expires_at']})"
        if links["report_url"]
        else "report.html"
    )
    drifted = ", ".join(f"`{d['column']}` (PSI {d['psi']:.3f})" for d in drift["drifted"]) or "none"
    lines = [
        f"**Verdict: {verdict}.** Run `{run_id}` trained **{evaluation['family']}** "
        f"(CV AUC {evaluation['cv_auc']:.4f}); it would replace {replaces}.",
        "",
        f"**Rule:** {decision['reason']} (margin {decision['margin']:g}).",
        "",
        *rows,
        "",
        f"Chosen threshold {evaluation['threshold']:.4f} ({rule.description}); test rows "
        f"{metrics['rows']:,}. Parameters: `{evaluation['best_params']}`.",
        "",
        f"**Drift** against the champion's training data: {drift['summary'].rstrip('.')}. Drifted columns: {drifted}.",
        "",
        f"**Report** (charts, drift table, artifacts): {report} (`{links['report_uri']}`).",
        f"**Model:** `{results['artifacts']['model_uri']}`, sha256 `{evaluation['sha256']}`.",
        "",
        f"**Approve** makes this model the champion (re-checked against the champion of that moment). "
        f"**Reject** keeps the champion; your comment goes to the run's history, report and SNS message. "
        f"With no answer by {due} the champion is kept.",
    ]
    return subject, "\n".join(lines) + "\n"


def review(run: RunContext, results: RunResults, timeout_seconds: int) -> tuple[ApprovalRequest, Approval]:
    """Prepare a person's review of this run's promotion: the report as it stands (marked "awaiting
    approval"), and the request that links to it. Returns the request and the pending approval record."""
    # Here, not at the top: the gate imports this module in every run, and only a waiting one draws charts.
    from include.bank_marketing import registry, report

    requested_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    waiting = pending(requested_at, timeout_seconds)
    links = report.build_report(run, {**results, "decision": {**results["decision"], "approval": waiting}})
    champion, _ = registry.read_champion(run.s3, run.bucket)
    due = due_at(requested_at, timeout_seconds)
    subject, body = request_text(run.run_id, results, champion, links, due)
    request: ApprovalRequest = {
        "subject": subject,
        "body": body,
        "report_uri": links["report_uri"],
        "report_url": links["report_url"],
        "due": due,
    }
    return request, waiting
