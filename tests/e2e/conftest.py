"""Shared fixtures of the end-to-end tests: one moto server and one Airflow home per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts import local_aws


@pytest.fixture(scope="session")
def aws():
    """moto's S3/SNS/SQS server on a free 127.0.0.1 port, with the alert topic and its SQS inbox."""
    with local_aws.LocalAws() as server:
        server.topic_arn, server.queue_url = server.create_topic_with_queue()
        yield server


@pytest.fixture(scope="session")
def airflow_env(aws):
    """Environment for `airflow` commands: the session's AIRFLOW_HOME (migrated) and the server's connection."""
    env = local_aws.airflow_env(aws.connection(), Path(os.environ["AIRFLOW_HOME"]))
    # Short retry delays (5 s, then 10 s) so fault-injection runs retry within the test's patience.
    env["BANK_ML_RETRY_DELAY_SECONDS"] = "5"
    local_aws.migrate(env)
    return env
