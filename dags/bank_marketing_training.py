"""
### Bank marketing: daily retraining

Retrains, checks and publishes the term-deposit propensity model on the UCI Bank Marketing data.

1. **wait_for_data**: waits for `s3://{bucket}/{input_key}` (`input_key` may be a template such as
   `raw/{{ ds }}/banking.csv`).
2. **validate**: reads the CSV once, detects the delimiter and the target format, infers the features.
   Bad input fails here with a one-line reason, is copied to `rejected/{run_id}/` and alerted over SNS.
3. **preprocess**: stratified 80/20 split (fixed seed), written to S3 as Parquet.
4. **train**: one mapped task per model family, `GridSearchCV` scored by ROC AUC.
5. **evaluate**: best family by CV AUC, scored on the held-out 20 % and compared with the baselines.
6. **publish**: `model.joblib`, `model.json` (with the decision threshold chosen on training folds),
   `metrics.json`, `profile.json` and `new.csv` under `runs/{run_id}/`, and `new.csv` at the bucket's root,
   as the original lab wrote it.
7. **check_drift** (beside training): the incoming file against the champion's training profile (PSI per
   column, unseen categories) in `drift.json`.
8. **approve** (human-in-the-loop branch): a model that passes the baselines and beats the champion,
   re-scored on the same test rows, by `promotion_margin` goes to **promote** (`models/champion.json`);
   else to **keep_champion**. With `approval` = `required` the promotion first waits, in Browse > Required
   Actions, for a person to Approve or Reject it (with the metrics, drift and report link on the page, and
   an SNS message with the link); no answer within `approval_timeout` keeps the champion. Each run's
   decision, with who approved or rejected it, is recorded under `models/history/`.
9. **explain_for_campaign** (beside publish): on the test rows, cumulative gains and lift (against calling at
   random and against the lab's logistic regression), the expected profit of both thresholds (max F1, and max
   profit for `cost_per_call` and `value_per_subscription`, both chosen on training folds), calibration and
   permutation importance of the input columns: `campaign.json` and five charts.
10. **build_report**: a "for the campaign" section up front, ROC, precision-recall, confusion-matrix,
   grid-search and campaign charts in a self-contained `report.html`.
11. **notify**: SNS message with the verdict, the promotion decision and its approval, every metric beside
   its baseline, the top 20 %'s reach and lift, the drift summary, the report's link and the artifact URIs.

A run not finished 6 hours (`BANK_ML_DEADLINE_HOURS`) after its data interval ended sends an SNS alert
naming the task it is stuck in (Airflow's deadline alert).

XCom carries only S3 URIs and small JSON; all logic lives in `include/bank_marketing/`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from bank_marketing_common.approval import PromotionGate
from bank_marketing_common.arrivals import incoming_inlets, resolve_run_input, training_schedule
from bank_marketing_common.aws import (
    CHAMPION_ASSET,
    alert_run_failure,
    default_args,
    publish_sns,
    run_context,
    wait_for_file,
)
from bank_marketing_common.deadline import late_run_alerts
from bank_marketing_common.params import training_params

# Only light modules at parse time; pandas and scikit-learn are imported inside the tasks.
from include.bank_marketing import config, notification
from include.bank_marketing.contracts import (
    Approval,
    Artifacts,
    CampaignSummary,
    Candidate,
    Decision,
    DriftCheck,
    Evaluation,
    OtherRun,
    RunInput,
    RunReport,
    RunResults,
    Split,
    TrainingSpec,
    ValidatedInput,
)
from include.bank_marketing.layout import render_key
from include.bank_marketing.params import TrainingSettings


@dag(
    dag_id="bank_marketing_training",
    dag_display_name="Bank marketing: daily retraining",
    description="Retrain, evaluate and publish the bank-marketing model from S3, with an SNS report.",
    doc_md=__doc__,
    # Daily at midnight UTC, and once per new file under s3://{bucket}/raw/ (S3 -> SQS -> the triggerer's
    # watcher), whichever comes first: a file whose event was lost is still read by the next daily run.
    schedule=training_schedule(),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    # Three runs at most: one may be waiting for an approval (no worker slot held while it waits) beside the
    # daily run and a backfill; more training at once would oversubscribe a small worker pool.
    max_active_runs=3,
    # A safety net, past the longest wait for the file and for an approval, plus the work itself.
    dagrun_timeout=timedelta(seconds=config.WAIT_TIMEOUT_MAX_SECONDS + config.APPROVAL_TIMEOUT_MAX_SECONDS)
    + timedelta(hours=8),
    deadline=late_run_alerts(),
    tags=["ml", "bank-marketing", "s3", "sns"],
    params=training_params(),
    user_defined_macros={"render_key": render_key},
    default_args=default_args(),
    on_failure_callback=alert_run_failure,
)
def bank_marketing_training():
    # One at a time: each records in the asset's state store which new files it takes (the rest of the run
    # follows the key it returns). The key is not a template field: a run started by a file event has no
    # logical date, and an input_key template may use {{ ds }}.
    @task(multiple_outputs=True, inlets=incoming_inlets(), max_active_tis_per_dag=1)
    def resolve_input(params=None, run_id=None) -> RunInput:
        context = get_current_context()

        def default_key() -> str:
            return render_key(
                params["input_key"], ds=context.get("ds"), ds_nodash=context.get("ds_nodash"), run_id=run_id
            )

        try:
            run_input = resolve_run_input(context, default_key)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None
        if run_input["key"] is None:
            raise AirflowSkipException("every file of the events that started this run already has its run")
        return run_input

    # Airflow maps only over a task's return value, not over one key of a multiple_outputs task.
    @task
    def other_files(other_runs: list[OtherRun]) -> list[OtherRun]:
        return other_runs

    run_input = resolve_input()
    # Files that arrived together start one run between them: each file after the first gets a run of its own
    # (its run id is derived from the file, so it is never started twice).
    TriggerDagRunOperator.partial(
        task_id="start_runs_for_other_files",
        trigger_dag_id="bank_marketing_training",
        skip_when_already_exists=True,
    ).expand_kwargs(other_files(run_input["other_runs"]))
    wait_for_data = wait_for_file("wait_for_data", run_input["key"])

    # multiple_outputs=False: one XCom holding the small dict, not one XCom per key.
    @task(multiple_outputs=False)
    def validate(key: str, params=None, run_id=None) -> ValidatedInput:
        from include.bank_marketing import validation

        settings = TrainingSettings.from_params(params)
        try:
            return validation.validate_object(run_context(params, run_id), key, settings.cv_folds, settings.duplicates)
        except validation.InputError as exc:
            raise AirflowFailException(str(exc)) from None  # bad data: a retry cannot fix it

    @task
    def plan_training(params=None) -> list[TrainingSpec]:
        from include.bank_marketing import training

        settings = TrainingSettings.from_params(params)
        try:
            return training.plan(settings.families, settings.param_grids)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    @task(multiple_outputs=False)
    def preprocess(validated: ValidatedInput, params=None, run_id=None) -> Split:
        from include.bank_marketing import preprocessing

        drop = TrainingSettings.from_params(params).drop
        return preprocessing.split_object(run_context(params, run_id), validated, drop)

    @task(
        multiple_outputs=False, map_index_template="{{ family }}", max_active_tis_per_dagrun=config.TRAIN_TASKS_PER_RUN
    )
    def train(spec: TrainingSpec, split: Split, params=None, run_id=None) -> Candidate:
        from include.bank_marketing import training

        get_current_context()["family"] = spec["family"]  # label of the mapped instance in the UI
        return training.train_planned(run_context(params, run_id), split, spec, params["cv_folds"])

    @task(multiple_outputs=False)
    def evaluate(candidates: list[Candidate], split: Split, params=None, run_id=None) -> Evaluation:
        from include.bank_marketing import evaluation, storage

        settings = TrainingSettings.from_params(params)
        try:
            return evaluation.evaluate_candidates(run_context(params, run_id), split, list(candidates), settings)
        except storage.IntegrityError as exc:
            raise AirflowFailException(str(exc)) from None  # a pickle that is not what was recorded: no retry

    @task(multiple_outputs=False)
    def publish(validated: ValidatedInput, split: Split, result: Evaluation, params=None, run_id=None) -> Artifacts:
        from include.bank_marketing import publish

        return publish.publish_run(run_context(params, run_id), validated, split, result)

    @task(multiple_outputs=False)
    def explain_for_campaign(
        split: Split, candidates: list[Candidate], result: Evaluation, params=None, run_id=None
    ) -> CampaignSummary:
        from include.bank_marketing import campaign, storage

        try:
            return campaign.explain_for_campaign(run_context(params, run_id), split, list(candidates), result)
        except storage.IntegrityError as exc:
            raise AirflowFailException(str(exc)) from None  # a pickle that is not what was recorded: no retry

    @task(multiple_outputs=False)
    def check_drift(validated: ValidatedInput, params=None, run_id=None) -> DriftCheck:
        from include.bank_marketing import drift

        threshold = TrainingSettings.from_params(params).drift_threshold
        return drift.check_object(run_context(params, run_id), validated, threshold)

    # One promotion at a time per DAG; the S3 conditional write in registry.promote guards the rest.
    @task(multiple_outputs=False, max_active_tis_per_dag=1, outlets=[CHAMPION_ASSET])
    def promote(
        split: Split, result: Evaluation, artifacts: Artifacts, approval: Approval, params=None, run_id=None
    ) -> Decision:
        from include.bank_marketing import registry

        return registry.promote(run_context(params, run_id), split, result, artifacts, approval)

    @task(multiple_outputs=False)
    def keep_champion(result: Evaluation, approval: Approval, params=None, run_id=None) -> Decision:
        from include.bank_marketing import registry

        return registry.keep(run_context(params, run_id), result, approval)

    @task(multiple_outputs=False, trigger_rule="none_failed_min_one_success")
    def build_report(
        *,
        validated: ValidatedInput,
        drift: DriftCheck,
        split: Split,
        candidates: list[Candidate],
        result: Evaluation,
        artifacts: Artifacts,
        campaign: CampaignSummary,
        params=None,
        run_id=None,
        ti=None,
    ) -> RunReport:
        from include.bank_marketing import report

        # The final decision is that of the branch that ran (promote may have re-decided after a race).
        decision: Decision = next(d for d in ti.xcom_pull(task_ids=["promote", "keep_champion"]) if d)
        results: RunResults = {
            "validated": validated,
            "drift": drift,
            "split": split,
            "candidates": list(candidates),
            "evaluation": result,
            "artifacts": artifacts,
            "campaign": campaign,
            "decision": decision,
        }
        return {"results": results, "links": report.build_report(run_context(params, run_id), results)}

    @task
    def notify(reported: RunReport, params=None, run_id=None) -> str:
        subject, message = notification.compose(run_id, reported["results"], reported["links"])
        publish_sns(params["sns_topic_arn"], subject, message)
        return subject

    validated = validate(run_input["key"])
    wait_for_data >> validated
    drift = check_drift(validated)
    split = preprocess(validated)
    candidates = train.partial(split=split).expand(spec=plan_training())
    result = evaluate(candidates, split)
    artifacts = publish(validated, split, result)
    # Beside publish: the gains, profit and importance the report and the approver see.
    explained = explain_for_campaign(split, candidates, result)
    # After publish (the model a promotion points at exists) and after the drift check, which reads the
    # champion before this run may replace it: the gate takes both, so both branches come after them.
    gate = PromotionGate(
        task_id="approve",
        task_display_name="approve (promotion gate)",
        results={
            "validated": validated,
            "drift": drift,
            "split": split,
            "candidates": candidates,
            "evaluation": result,
            "artifacts": artifacts,
            "campaign": explained,
        },
    )
    branches = [promote(split, result, artifacts, gate.output), keep_champion(result, gate.output)]
    gate >> branches
    reported = build_report(
        validated=validated,
        drift=drift,
        split=split,
        candidates=candidates,
        result=result,
        artifacts=artifacts,
        campaign=explained,
    )
    branches >> reported
    notify(reported)


bank_marketing_training()
