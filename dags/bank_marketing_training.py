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
8. **choose_path** (branch): **promote** the model to `models/champion.json` if it passes the baselines and
   beats the champion, re-scored on the same test rows, by `promotion_margin`; else **keep_champion**.
   Each run's decision is recorded under `models/history/`.
9. **build_report**: ROC, precision-recall, confusion-matrix and grid-search charts and a self-contained
   `report.html`.
10. **notify**: SNS message with the verdict, the promotion decision, every metric beside its baseline, the
   drift summary, the report's link and the artifact URIs.

XCom carries only S3 URIs and small JSON; all logic lives in `include/bank_marketing/`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from bank_marketing_airflow import (
    CHAMPION_ASSET,
    alert_run_failure,
    default_args,
    input_key_template,
    publish_sns,
    s3_client,
    shared_params,
    wait_for_file,
)

# Only the light modules at parse time; pandas and scikit-learn are imported inside the tasks.
from include.bank_marketing import config, notification
from include.bank_marketing.layout import render_key

INPUT_KEY = input_key_template()

BASELINE_TITLES = {
    "auc": "ROC AUC",
    "f1": "F1 score",
    "precision": "Precision",
    "recall": "Recall",
    "accuracy": "Accuracy",
}

SHARED_PARAMS = shared_params(
    "the input; the run's artifacts go under runs/{run_id}/ and the champion under models/",
    "wait_for_data",
    "the run's scores",
)
# The form shows sections in the order of their first Param: Data first, Notification last.
PARAMS = {
    "bucket": SHARED_PARAMS["bucket"],
    "input_key": Param(
        "banking.csv",
        type="string",
        title="Input key",
        description="Key of the input CSV (';' or ',' separated, target column y). Rendered as a template "
        "with the run's ds, ds_nodash and run_id, e.g. raw/{{ ds }}/banking.csv.",
        minLength=1,
        section="Data",
    ),
    "wait_timeout_seconds": SHARED_PARAMS["wait_timeout_seconds"],
    "model_families": Param(
        list(config.FAMILIES),
        type="array",
        title="Model families",
        description="Families to grid-search; each trains as its own mapped task.",
        items={"type": "string", "enum": list(config.FAMILIES)},
        examples=list(config.FAMILIES),
        values_display=config.FAMILIES,
        minItems=1,
        uniqueItems=True,
        section="Training",
    ),
    "cv_folds": Param(
        config.DEFAULT_CV_FOLDS,
        type="integer",
        title="Cross-validation folds",
        description="Stratified k-fold splits of the training set used by the grid search.",
        minimum=2,
        maximum=10,
        section="Training",
    ),
    "drop_duration": Param(
        False,
        type="boolean",
        title="Drop duration (no leakage)",
        description="Train without the call duration, which is known only after the call: the model a "
        "campaign can use to choose whom to call. Off reproduces the benchmark setting of the original lab.",
        section="Training",
    ),
    "param_grids": Param(
        {},
        type=["object", "null"],  # optional: the form marks a field required unless it may be null
        title="Grid overrides",
        description="Optional JSON replacing a family's default grid, e.g. "
        '{"logistic_regression": {"C": [0.5, 5.0]}}. Keys are estimator parameters, values lists.',
        section="Training",
    ),
    "drift_threshold": Param(
        config.DRIFT_PSI_THRESHOLD,
        type="number",
        title="Drift threshold (PSI)",
        description="A column of the incoming file whose population stability index against the champion's "
        "training data exceeds this has drifted; the SNS message and the report name it.",
        minimum=0.01,
        maximum=5,
        section="Monitoring",
    ),
    "promotion_margin": Param(
        config.PROMOTION_MARGIN,
        type="number",
        title="Promotion margin (AUC)",
        description="A model passing the baselines replaces the champion only if its test AUC beats the "
        "champion's, re-scored on the same rows, by at least this much.",
        minimum=0,
        maximum=0.1,
        section="Promotion",
    ),
    **{
        f"baseline_{name}": Param(
            value,
            type="number",
            title=f"Baseline {BASELINE_TITLES[name]}",
            description=f"Test {BASELINE_TITLES[name]} the model must reach to PASS "
            "(default: the original lab's recipe on banking.csv).",
            minimum=0,
            maximum=1,
            section="Baselines",
        )
        for name, value in config.BASELINES.items()
    },
    "sns_topic_arn": SHARED_PARAMS["sns_topic_arn"],
}


def _decision(ti) -> dict:
    """The final promotion decision: exactly one branch ran, and promote may have re-decided after a race."""
    return next(d for d in ti.xcom_pull(task_ids=["promote", "keep_champion"]) if d)


@dag(
    dag_id="bank_marketing_training",
    dag_display_name="Bank marketing: daily retraining",
    description="Retrain, evaluate and publish the bank-marketing model from S3, with an SNS report.",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    # Two runs at most: a backfill can overlap the daily run, but the training fan-out of more would
    # oversubscribe a small worker pool.
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=8),
    tags=["ml", "bank-marketing", "s3", "sns"],
    params=PARAMS,
    user_defined_macros={"render_key": render_key},
    default_args=default_args(),
    on_failure_callback=alert_run_failure,
)
def bank_marketing_training():
    wait_for_data = wait_for_file("wait_for_data", INPUT_KEY)

    # multiple_outputs=False: one XCom holding the small dict, not one XCom per key.
    @task(multiple_outputs=False)
    def validate(key: str, params=None, run_id=None) -> dict:
        from include.bank_marketing import validation

        try:
            return validation.validate_object(s3_client(), params["bucket"], key, run_id, params["cv_folds"])
        except validation.InputError as exc:
            raise AirflowFailException(str(exc)) from None  # bad data: a retry cannot fix it

    @task
    def plan_training(params=None) -> list[dict]:
        from include.bank_marketing import training

        try:
            return training.plan(params["model_families"], params["param_grids"])
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    @task(multiple_outputs=False)
    def preprocess(validated: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import preprocessing

        drop = ["duration"] if params["drop_duration"] else []
        return preprocessing.split_object(s3_client(), validated, params["bucket"], run_id, drop)

    @task(multiple_outputs=False, map_index_template="{{ family }}", max_active_tis_per_dagrun=3)
    def train(spec: dict, split: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import training

        get_current_context()["family"] = spec["family"]  # label of the mapped instance in the UI
        return training.train_planned(s3_client(), split, params["bucket"], run_id, spec, params["cv_folds"])

    @task(multiple_outputs=False)
    def evaluate(candidates: list[dict], split: dict, params=None) -> dict:
        from include.bank_marketing import evaluation, storage

        baselines = {name: params[f"baseline_{name}"] for name in config.BASELINES}
        try:
            return evaluation.evaluate_candidates(
                s3_client(),
                list(candidates),
                split["test_uri"],
                baselines,
                params["bucket"],
                params["promotion_margin"],
                train_uri=split["train_uri"],
                cv_folds=params["cv_folds"],
            )
        except storage.IntegrityError as exc:
            raise AirflowFailException(str(exc)) from None  # a pickle that is not what was recorded: no retry

    @task(multiple_outputs=False)
    def publish(result: dict, split: dict, validated: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import reporting

        return reporting.publish_run(s3_client(), params["bucket"], run_id, result, split, validated)

    @task(multiple_outputs=False)
    def check_drift(validated: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import drift

        return drift.check_object(
            s3_client(), params["bucket"], run_id, validated["validated_uri"], params["drift_threshold"]
        )

    @task.branch
    def choose_path(result: dict) -> str:
        return "promote" if result["decision"]["promote"] else "keep_champion"

    # One promotion at a time per DAG; the S3 conditional write in registry.promote guards the rest.
    @task(multiple_outputs=False, max_active_tis_per_dag=1, outlets=[CHAMPION_ASSET])
    def promote(result: dict, artifacts: dict, split: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import registry

        return registry.promote(
            s3_client(), params["bucket"], run_id, result, artifacts, result["decision"], split["test_uri"]
        )

    @task(multiple_outputs=False)
    def keep_champion(result: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import registry

        return registry.keep(s3_client(), params["bucket"], run_id, result, result["decision"])

    @task(multiple_outputs=False, trigger_rule="none_failed_min_one_success")
    def build_report(
        result: dict, artifacts: dict, split: dict, validated: dict, drift: dict, candidates: list[dict],
        params=None, run_id=None, ti=None, dag=None,
    ) -> dict:  # fmt: skip
        from include.bank_marketing import reporting

        return reporting.build_report(
            s3_client(), params["bucket"], run_id, dag.dag_id, result, artifacts, split, validated, drift,
            _decision(ti), list(candidates),
        )  # fmt: skip

    @task
    def notify(result: dict, artifacts: dict, drift: dict, report: dict, params=None, run_id=None, ti=None) -> str:
        subject, message = notification.compose(run_id, result, artifacts, _decision(ti), drift, report)
        publish_sns(params["sns_topic_arn"], subject, message)
        return subject

    validated = validate(INPUT_KEY)
    wait_for_data >> validated
    drift = check_drift(validated)
    split = preprocess(validated)
    candidates = train.partial(split=split).expand(spec=plan_training())
    result = evaluate(candidates, split)
    artifacts = publish(result, split, validated)
    branches = [promote(result, artifacts, split), keep_champion(result)]
    choose_path(result) >> branches
    # The drift check reads the champion before this run may replace it.
    artifacts >> branches
    drift >> branches
    report = build_report(result, artifacts, split, validated, drift, candidates)
    branches >> report
    notify(result, artifacts, drift, report)


bank_marketing_training()
