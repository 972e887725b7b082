"""The AWS side of both DAGs: the connection, the S3 sensor, SNS publishing, callbacks and task defaults."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import Asset
from botocore.config import Config

from include.bank_marketing import config, notification, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.layout import CHAMPION_KEY, s3_uri

AWS_CONN_ID = "aws_default"
# The champion pointer of the default bucket: the training DAG's promote task emits events on it and the
# scoring DAG is scheduled on them. (An asset is a fixed URI: a deployment using another bucket names its own.)
CHAMPION_ASSET = Asset(uri=s3_uri(config.DEFAULT_BUCKET, CHAMPION_KEY), name="bank_ml_champion")


def input_key_template(ds: str) -> str:
    """Jinja for a key Param rendered with the run's variables by ``layout.render_key``; ``ds`` is the Jinja
    expression that stands for the run's date (a run started by an asset event has no logical date, so the
    scoring DAG passes its run_after date instead). The training DAG renders its key in ``resolve_input``.
    """
    return (
        f"{{{{ render_key(params.input_key, ds={ds}, "
        "ds_nodash=ds_nodash if ds_nodash is defined else none, run_id=run_id) }}"
    )


def _under_dag_test() -> bool:
    """Whether this task runs inside ``DAG.test()`` (``airflow dags test``), whose supervisor is in-process."""
    from airflow.sdk.execution_time import task_runner

    return type(getattr(task_runner, "SUPERVISOR_COMMS", None)).__name__ == "InProcessSupervisorComms"


class ParamTimeoutS3KeySensor(S3KeySensor):
    """S3KeySensor whose timeout comes from the run's `wait_timeout_seconds` Param (a form field)."""

    def execute(self, context):
        if _under_dag_test():
            # `airflow dags test` runs a deferred task's trigger in its own process with no timeout: a file
            # that never comes would hang it. Look for the file here instead; the timeout then fails the task.
            self.deferrable = False
        self.timeout = float(context["params"]["wait_timeout_seconds"])
        # Look about a dozen times within the timeout, at least every 5 s and at most every 5 min (the
        # triggerer's S3 requests while deferred).
        self.poke_interval = min(300.0, max(5.0, self.timeout / 12))
        return super().execute(context)


def wait_for_file(task_id: str, key: Any) -> ParamTimeoutS3KeySensor:
    """The sensor both DAGs start with: ``key`` (a template or an upstream task's output) in ``params.bucket``,
    for ``wait_timeout_seconds``.

    Deferrable: it looks once, and if the file is not there yet it hands the wait to the triggerer (an asyncio
    coroutine there, no worker slot held) until the file appears or the timeout fails it.
    """
    return ParamTimeoutS3KeySensor(
        task_id=task_id,
        aws_conn_id=AWS_CONN_ID,
        bucket_name="{{ params.bucket }}",
        bucket_key=key,
        deferrable=True,
        timeout=config.WAIT_TIMEOUT_SECONDS,
    )


def s3_client(bucket: str | None = None) -> Any:
    """boto3 S3 client of the AWS connection (its extra endpoint_url points at LocalStack or moto), signing
    with Signature Version 4 (``s3v4``, which real S3 requires of presigned links; the connection's other
    ``config_kwargs`` still apply) in ``bucket``'s region when one is given and can be told.
    """
    # A config given to the hook replaces the connection's config_kwargs: merge them, s3v4 winning.
    base = S3Hook(aws_conn_id=AWS_CONN_ID).conn_config.botocore_config
    sigv4 = Config(signature_version="s3v4")
    signing = base.merge(sigv4) if base else sigv4
    client = S3Hook(aws_conn_id=AWS_CONN_ID, config=signing).get_conn()
    region = storage.bucket_region(client, bucket) if bucket else None
    if region and region != client.meta.region_name:
        # A SigV4 signature names the region: the bucket's own.
        client = S3Hook(aws_conn_id=AWS_CONN_ID, region_name=region, config=signing).get_conn()
    return client


def run_context(params: Mapping[str, Any], run_id: str) -> RunContext:
    """The stages' run context: the connection's S3 client for the run's bucket Param, its run id, and the
    lifetime of the links it hands out (the ``link_expiry_hours`` Param; the scoring DAG has none)."""
    hours = int(params.get("link_expiry_hours", config.LINK_HOURS))
    return RunContext(s3_client(params["bucket"]), params["bucket"], run_id, link_seconds=hours * 3600)


def publish_sns(topic_arn: str, subject: str, message: str) -> None:
    """Publish one SNS message through the AWS connection."""
    SnsHook(aws_conn_id=AWS_CONN_ID).publish_to_target(target_arn=topic_arn, message=message, subject=subject)


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
    publish_sns(params.get("sns_topic_arn") or config.DEFAULT_TOPIC_ARN, subject, message)


def default_args() -> dict:
    """Task defaults: owner, retries with exponential backoff, an SNS alert with the error on final failure."""
    return {
        "owner": "ml-platform",
        "retries": config.RETRIES,
        "retry_delay": timedelta(seconds=config.RETRY_DELAY_SECONDS),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": SnsNotifier(
            aws_conn_id=AWS_CONN_ID,
            target_arn="{{ params.sns_topic_arn }}",
            subject=notification.TASK_FAILURE_SUBJECT,
            message=notification.TASK_FAILURE_MESSAGE,
        ),
    }
