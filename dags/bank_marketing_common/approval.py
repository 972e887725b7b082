"""The training DAG's approval gate: Airflow's human-in-the-loop branch, asking a person only when needed.

``PromotionGate`` replaces a plain branch between ``publish`` and ``promote``/``keep_champion``:

- the rules keep the champion, or the ``approval`` Param is ``auto``: it branches at once, asking nobody;
- ``required`` and the rules would promote: it writes the preview report, publishes an SNS message with the
  link to the run's Required Actions page and parks in ``awaiting_input`` (no worker slot, no triggerer; on
  Airflow 3.2, which has no such state, the provider defers it to the triggerer instead) until a person
  answers Approve (-> ``promote``) or Reject (-> ``keep_champion``), or ``approval_timeout`` passes
  (the scheduler applies the default, Reject, and the record says it timed out).

Its XCom is the approval record (``contracts.Approval``), which promote/keep write into the decision.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLBranchOperator
from airflow.sdk import Param
from airflow.sdk.bases.xcom import BaseXCom
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import TaskDeferred

# How the provider's HITL operator parks a task: awaiting_input on Airflow 3.3+, a deferral to the triggerer on 3.2
# (README "Supported versions").
try:
    from airflow.sdk.exceptions import TaskAwaitingInput

    PARKED: tuple[type[BaseException], ...] = (TaskAwaitingInput, TaskDeferred)
except ImportError:
    PARKED = (TaskDeferred,)
from airflow.sdk.execution_time.hitl import get_hitl_detail_content_detail

from bank_marketing_common.aws import publish_sns, run_context
from include.bank_marketing import approval, config, notification
from include.bank_marketing.contracts import Approval, ApprovalOutcome
from include.bank_marketing.params import TrainingSettings

PROMOTE = "promote"
KEEP = "keep_champion"


class PromotionGate(HITLBranchOperator):
    """Branch to ``promote`` or ``keep_champion``, through a person's decision when ``approval`` is required.

    ``results`` holds the run's results so far (XComArgs, resolved before ``execute``): validated, drift,
    split, candidates, evaluation and artifacts.
    """

    template_fields = (*HITLBranchOperator.template_fields, "results")
    ui_color = "#fdf0d5"

    def __init__(self, *, results: dict[str, Any], **kwargs: Any) -> None:
        # Airflow hands every operator the DAG's Params (marked source "dag"); the request's own field is a
        # task Param, the only kind the approval form shows.
        params = ParamsDict(kwargs.pop("params", None) or {})
        params[approval.COMMENT] = Param(
            "",
            type=["string", "null"],
            title="Comment",
            description="Why you approve or reject: recorded in the run's history, report and SNS message.",
            source="task",
        )
        super().__init__(
            # Placeholders: execute() writes the run's own subject and body before the request is stored.
            subject="Promote this run's model to champion?",
            body=None,
            options=list(approval.OPTIONS),
            options_mapping={approval.APPROVE: PROMOTE, approval.REJECT: KEEP},
            defaults=[approval.REJECT],  # what an unanswered request comes to: the champion is kept
            params=params,
            assigned_users=[{"id": user, "name": user} for user in config.APPROVERS] or None,
            **kwargs,
        )
        self.results = results

    def execute(self, context: Any) -> Any:
        params, run_id = context["params"], context["run_id"]
        settings = TrainingSettings.from_params(params)
        decision = self.results["evaluation"]["decision"]
        if not approval.needs_person(settings.approval, decision):
            return self._branch(context, approval.without_person(settings.approval, decision))

        if (answered := self._earlier_answer(context)) is not None:
            self.log.warning("An earlier try of this task was answered; resuming with that answer, not asking again")
            return self.execute_complete(context, answered)

        results = {**self.results, "candidates": list(self.results["candidates"]), "decision": decision}
        request, waiting = approval.review(run_context(params, run_id), results, settings.approval_timeout)
        self.subject, self.body = request["subject"], request["body"]
        self.response_timeout = timedelta(seconds=settings.approval_timeout)
        subject, message = notification.approval_requested(run_id, request, self._link(context))
        publish_sns(params["sns_topic_arn"], subject, message)
        try:
            return super().execute(context)  # stores the request, then parks the task in awaiting_input
        except PARKED as parked:
            # The pending record travels with the parked task to execute_complete (XCom does not).
            parked.kwargs = {**(parked.kwargs or {}), "requested": dict(waiting)}
            raise

    def execute_complete(self, context: Any, event: dict[str, Any], requested: Approval | None = None) -> Approval:
        """Resumed by the answer or the timeout: branch on it and return its record."""
        settings = TrainingSettings.from_params(context["params"])
        asked = requested or approval.pending(None, settings.approval_timeout)
        if "error" in event:
            self.process_trigger_event_error(event)  # e.g. no defaults and a timeout: the task fails
        self.validate_chosen_options(event["chosen_options"])
        self.validate_params_input(event["params_input"] or {})
        return self._branch(context, approval.from_response(asked, event))

    def _branch(self, context: Any, record: Approval) -> Approval:
        """Push ``record`` as the task's result, then follow the branch it implies. The record goes first:
        skipping the other branch ends execute() with an exception, before Airflow would push a return value."""
        outcome = ApprovalOutcome(record["outcome"])
        context["ti"].xcom_push(key=BaseXCom.XCOM_RETURN_KEY, value=record)
        self.do_branch(context, PROMOTE if outcome in (ApprovalOutcome.AUTO, ApprovalOutcome.APPROVED) else KEEP)
        return record

    def _earlier_answer(self, context: Any) -> dict[str, Any] | None:
        """The answer given to an earlier try of this task instance, if any, as the resume event.

        On Airflow 3.3.2 an answer that lands before the scheduler has processed the executor's report of the
        parked try is lost: the scheduler takes the report for a task that ended while queued, fails the try
        and retries it (RELIABILITY.md). The person's answer is still stored with the task instance; the new
        try takes it instead of asking again.
        """
        try:
            earlier = get_hitl_detail_content_detail(context["ti"].id)
        except Exception:  # no request stored yet: the first try
            return None
        if not earlier.response_received or not earlier.chosen_options:
            return None
        user = earlier.responded_by_user
        return {
            "chosen_options": list(earlier.chosen_options),
            "params_input": earlier.params_input or {},
            "responded_at": earlier.responded_at,
            "responded_by_user": {"id": user.id, "name": user.name} if user else None,
            "timedout": user is None,  # the timeout sweep answers with the defaults and no user
        }

    def _link(self, context: Any) -> str | None:
        """The run's Required Actions page in the UI, or None when ``[api] base_url`` is not set."""
        try:
            return self.generate_link_to_ui(task_instance=context["ti"])
        except ValueError:
            return None
