"""Shared fixtures of the unit tests: an in-process S3 (moto), CSV builders and tiny synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

BUCKET = "bank-ml"
RUN_ID = "manual__2026-11-28T05:34:00+00:00"
# What layout.run_prefix makes of RUN_ID: '+' is not kept in keys.
SAFE_RUN_ID = "manual__2026-11-28T05:34:00_00:00"


def csv_bytes(header: list[str], rows: list[list[object]], delimiter: str = ";", newline: str = "\n") -> bytes:
    """CSV bytes of ``header`` and ``rows`` (values written with ``str``; ``None`` is a blank cell)."""
    lines = [delimiter.join(header)]
    lines += [delimiter.join("" if v is None else str(v) for v in row) for row in rows]
    return (newline.join(lines) + newline).encode()


class ColumnProba:
    """A stand-in model whose positive-class probability is the value of one input column.

    Defined here (an importable module) so that joblib can pickle it by reference.
    """

    def __init__(self, column: str) -> None:
        self.column = column

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = x[self.column].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])


@pytest.fixture
def s3(monkeypatch):
    """A boto3 S3 client on moto's in-process mock with the bucket ``bank-ml`` created."""
    import boto3
    from moto import mock_aws

    # Fake credentials and no endpoint override: nothing here may reach a real account or server.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def get_body(client, key: str, bucket: str = BUCKET) -> bytes:
    """Raw bytes of an object, read with boto3 directly (not through the code under test)."""
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def all_keys(client, bucket: str = BUCKET) -> list[str]:
    """Every key of the bucket, sorted, listed with boto3 directly."""
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def synthetic_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A validated-looking frame (row_id, two numeric, one categorical, y as int8) with a clear signal."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2.5 * x1 + 2.0 * (color == "red") - 1.0
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype("int8")
    return pd.DataFrame(
        {
            "row_id": np.arange(1, n + 1),
            "x1": x1,
            "count": rng.integers(0, 50, size=n).astype("int64"),
            "color": pd.Series(color, dtype="str"),
            "y": y,
        }
    )


@pytest.fixture
def synthetic() -> pd.DataFrame:
    """A fresh 300-row synthetic frame per test (tests may change it)."""
    return synthetic_frame()
