"""The run context every stage function takes first: where to read and write, and for which run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from include.bank_marketing import config
from include.bank_marketing.layout import run_key, s3_uri

TRAINING_DAG_ID = "bank_marketing_training"


@dataclass(frozen=True)
class RunContext:
    """One DAG run's S3 client, bucket and run id, and the key builder of its artifacts.

    ``s3`` is a boto3 S3 client (in the DAG it comes from the Airflow connection, in tests from moto);
    ``link_seconds`` is the ``link_expiry_hours`` Param in seconds.
    """

    s3: Any
    bucket: str
    run_id: str
    dag_id: str = TRAINING_DAG_ID
    link_seconds: int = config.LINK_HOURS * 3600  # lifetime of the presigned links the run hands out

    def uri(self, name: str) -> str:
        """``s3://{bucket}/runs/{run_id}/{name}``: where this run's artifact ``name`` lives."""
        return s3_uri(self.bucket, run_key(self.run_id, name))

    def bucket_uri(self, key: str) -> str:
        """``s3://{bucket}/{key}`` for a key outside the run's prefix (the input, the champion pointer)."""
        return s3_uri(self.bucket, key)
