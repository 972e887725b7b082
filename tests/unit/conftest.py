"""Fixtures of the unit tests: an in-process S3 (moto), a run context on it and a tiny synthetic frame.

The builders the tests import by name (CSV bytes, the stand-in model, the bucket and run id) are in
``tests/support/builders.py``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from include.bank_marketing.context import RunContext
from tests.support.builders import BUCKET, RUN_ID, synthetic_frame


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_math_library():
    """BLAS and OpenMP (histogram gradient boosting) on one thread, as the Celery workers run them
    (docker-compose.yaml sets OMP_NUM_THREADS=1). On the unit tests' few hundred rows, threads cost more than
    they save: on 2 busy cores a tiny boosting grid took 2-7 s with them and 0.5 s without. No expectation of
    these tests depends on the thread count."""
    # Loads scikit-learn's OpenMP runtime first, so that the limit below reaches it.
    import sklearn.ensemble  # ruff: ignore[unused-import]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def s3_client():
    """One boto3 S3 client for the session, created once: building a client costs 0.2-0.4 s (its service
    model is loaded anew each time), which per test was a third of the unit tests' run time. moto intercepts
    every botocore request while a mock is active, clients created before it included."""
    import boto3

    # Imported before the client is built: moto's botocore request hook must be in place first.
    import moto  # ruff: ignore[unused-import]

    # Fake credentials and no endpoint override, read once when the client is built (the environment is
    # restored right after): nothing here may reach a real account or server.
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def s3(s3_client):
    """The session's S3 client on a fresh moto in-process mock (nothing left from another test) with the
    bucket ``bank-ml`` created."""
    from moto import mock_aws

    with mock_aws():  # starts with every moto backend reset
        s3_client.create_bucket(Bucket=BUCKET)
        yield s3_client


@pytest.fixture
def run(s3) -> RunContext:
    """The run context of run ``RUN_ID`` on the moto bucket, as the DAG's tasks build it."""
    return RunContext(s3, BUCKET, RUN_ID)


@pytest.fixture
def synthetic() -> pd.DataFrame:
    """A fresh 300-row synthetic frame per test (tests may change it)."""
    return synthetic_frame()
