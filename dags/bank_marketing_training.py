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
6. **publish**: `model.joblib`, `model.json`, `metrics.json` and `new.csv` under `runs/{run_id}/`,
   and `new.csv` at the bucket's root, as the original lab wrote it.
7. **choose_path** (branch): **promote** the model to `models/champion.json` if it passes the baselines and
   beats the champion, re-scored on the same test rows, by `promotion_margin`; else **keep_champion**.
   Each run's decision is recorded under `models/history/`.
8. **notify**: SNS message with the verdict, the promotion decision, every metric beside its baseline and
   the artifact URIs.

XCom carries only S3 URIs and small JSON; all logic lives in `include/bank_marketing/`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

# Only the light modules at parse time; pandas and scikit-learn are imported inside the tasks.
from include.bank_marketing import config, notification
from include.bank_marketing.layout import render_key

AWS_CONN_ID = "aws_default"
TOPIC = "{{ params.sns_topic_arn }}"
# The input key after rendering its own template with the run's variables (ds is absent on runs
# without a logical date; render_key then names it instead of producing "None").
INPUT_KEY = (
    "{{ render_key(params.input_key, ds=ds if ds is defined else none, "
    "ds_nodash=ds_nodash if ds_nodash is defined else none, run_id=run_id) }}"
)

BASELINE_TITLES = {
    "auc": "ROC AUC",
    "f1": "F1 score",
    "precision": "Precision",
    "recall": "Recall",
    "accuracy": "Accuracy",
}

PARAMS = {
    "bucket": Param(
        "bank-ml",
        type="string",
        title="S3 bucket",
        description="Bucket holding the input; the run's artifacts are written under runs/{run_id}/ in it.",
        pattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        section="Data",
    ),
    "input_key": Param(
        "banking.csv",
        type="string",
        title="Input key",
        description="Key of the input CSV (';' or ',' separated, target column y). Rendered as a template "
        "with the run's ds, ds_nodash and run_id, e.g. raw/{{ ds }}/banking.csv.",
        minLength=1,
        section="Data",
    ),
    "wait_timeout_seconds": Param(
        config.WAIT_TIMEOUT_SECONDS,
        type="integer",
        title="Wait for the input (seconds)",
        description="How long wait_for_data waits for the input before the run fails and alerts.",
        minimum=10,
        maximum=86400,
        section="Data",
    ),
    "sns_topic_arn": Param(
        "arn:aws:sns:us-east-1:123456789012:bank-ml-alerts",
        type="string",
        title="SNS topic ARN",
        description="Topic that receives the run's scores and any failure alert.",
        pattern="^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$",
        section="Notification",
    ),
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
    "param_grids": Param(
        {},
        type="object",
        title="Grid overrides",
        description="Optional JSON replacing a family's default grid, e.g. "
        '{"logistic_regression": {"C": [0.5, 5.0]}}. Keys are estimator parameters, values lists.',
        section="Training",
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
}


class ParamTimeoutS3KeySensor(S3KeySensor):
    """S3KeySensor whose timeout comes from the run's `wait_timeout_seconds` Param (a form field)."""

    def execute(self, context):
        self.timeout = float(context["params"]["wait_timeout_seconds"])
        # Poke about a dozen times within the timeout, at least every 5 s and at most every 5 min.
        self.poke_interval = min(300.0, max(5.0, self.timeout / 12))
        return super().execute(context)


def _s3():
    """boto3 S3 client of the AWS connection (its extra endpoint_url points at LocalStack or moto)."""
    return S3Hook(aws_conn_id=AWS_CONN_ID).get_conn()


def alert_run_failure(context) -> None:
    """DAG-level failure alert over SNS, naming the failed task.

    A plain callable rather than SnsNotifier: in Airflow 3.3 a notifier given to a DAG-level callback
    cannot render its templates under `airflow dags test` (apache/airflow#64649).
    """
    ti = context.get("ti")
    params = context.get("params") or {}
    subject, message = notification.run_failure(
        dag_id=context["dag"].dag_id,
        run_id=context.get("run_id", "unknown"),
        reason=context.get("reason", "failure"),
        task_id=getattr(ti, "task_id", None),
        log_url=getattr(ti, "log_url", None),
    )
    topic = params.get("sns_topic_arn") or PARAMS["sns_topic_arn"].value
    SnsHook(aws_conn_id=AWS_CONN_ID).publish_to_target(target_arn=topic, message=message, subject=subject)


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
    default_args={
        "owner": "ml-platform",
        "retries": config.RETRIES,
        "retry_delay": timedelta(seconds=config.RETRY_DELAY_SECONDS),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": SnsNotifier(
            aws_conn_id=AWS_CONN_ID,
            target_arn=TOPIC,
            subject=notification.TASK_FAILURE_SUBJECT,
            message=notification.TASK_FAILURE_MESSAGE,
        ),
    },
    on_failure_callback=alert_run_failure,
)
def bank_marketing_training():
    wait_for_data = ParamTimeoutS3KeySensor(
        task_id="wait_for_data",
        aws_conn_id=AWS_CONN_ID,
        bucket_name="{{ params.bucket }}",
        bucket_key=INPUT_KEY,
        mode="reschedule",  # frees the worker slot between pokes
        timeout=config.WAIT_TIMEOUT_SECONDS,
    )

    # multiple_outputs=False: one XCom holding the small dict, not one XCom per key.
    @task(multiple_outputs=False)
    def validate(key: str, params=None, run_id=None) -> dict:
        from include.bank_marketing import validation

        try:
            return validation.validate_object(_s3(), params["bucket"], key, run_id, params["cv_folds"])
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

        return preprocessing.split_object(_s3(), validated["validated_uri"], params["bucket"], run_id)

    @task(multiple_outputs=False, map_index_template="{{ family }}", max_active_tis_per_dagrun=3)
    def train(spec: dict, split: dict, validated: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import training

        get_current_context()["family"] = spec["family"]  # label of the mapped instance in the UI
        return training.train_family(
            _s3(),
            split["train_uri"],
            params["bucket"],
            run_id,
            spec["family"],
            spec["grid"],
            validated["numeric"],
            validated["categorical"],
            params["cv_folds"],
        )

    @task(multiple_outputs=False)
    def evaluate(candidates: list[dict], split: dict, params=None) -> dict:
        from include.bank_marketing import evaluation, storage

        baselines = {name: params[f"baseline_{name}"] for name in config.BASELINES}
        try:
            return evaluation.evaluate_candidates(
                _s3(), list(candidates), split["test_uri"], baselines, params["bucket"], params["promotion_margin"]
            )
        except storage.IntegrityError as exc:
            raise AirflowFailException(str(exc)) from None  # a pickle that is not what was recorded: no retry

    @task(multiple_outputs=False)
    def publish(result: dict, split: dict, validated: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import reporting

        return reporting.publish_run(_s3(), params["bucket"], run_id, result, split["test_uri"], validated)

    @task.branch
    def choose_path(result: dict) -> str:
        return "promote" if result["decision"]["promote"] else "keep_champion"

    # One promotion at a time per DAG; the S3 conditional write in registry.promote guards the rest.
    @task(multiple_outputs=False, max_active_tis_per_dag=1)
    def promote(result: dict, artifacts: dict, split: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import registry

        return registry.promote(
            _s3(), params["bucket"], run_id, result, artifacts, result["decision"], split["test_uri"]
        )

    @task(multiple_outputs=False)
    def keep_champion(result: dict, params=None, run_id=None) -> dict:
        from include.bank_marketing import registry

        return registry.keep(_s3(), params["bucket"], run_id, result, result["decision"])

    @task(trigger_rule="none_failed_min_one_success")
    def notify(result: dict, artifacts: dict, params=None, run_id=None, ti=None) -> str:
        # Exactly one of the two branches ran; its decision is final (promote may have re-decided).
        decision = next(d for d in ti.xcom_pull(task_ids=["promote", "keep_champion"]) if d)
        subject, message = notification.compose(run_id, result, artifacts, decision)
        SnsHook(aws_conn_id=AWS_CONN_ID).publish_to_target(
            target_arn=params["sns_topic_arn"], message=message, subject=subject
        )
        return subject

    validated = validate(INPUT_KEY)
    wait_for_data >> validated
    split = preprocess(validated)
    candidates = train.partial(split=split, validated=validated).expand(spec=plan_training())
    result = evaluate(candidates, split)
    artifacts = publish(result, split, validated)
    branches = [promote(result, artifacts, split), keep_champion(result)]
    choose_path(result) >> branches
    artifacts >> branches
    branches >> notify(result, artifacts)


bank_marketing_training()
