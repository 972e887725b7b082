"""The DAGs' S3 client (``bank_marketing_common.aws.s3_client``): Signature Version 4 in the bucket's region,
with the connection's own botocore settings kept. Against moto in this process; the connection comes from
the ``AIRFLOW_CONN_AWS_DEFAULT`` environment variable, as a deployment may define it."""

from __future__ import annotations

import json
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from include.bank_marketing import storage
from tests.conftest import ROOT


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    # The DAG folder is on sys.path when Airflow parses it. Not monkeypatch.syspath_prepend: its undo restores
    # sys.path as it was before the test, dropping the plugins folder that importing airflow added meanwhile.
    if str(ROOT / "dags") not in sys.path:
        sys.path.insert(0, str(ROOT / "dags"))
    extra = {"region_name": "us-east-1", "config_kwargs": {"connect_timeout": 7}}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bank-ml")
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="bank-ml-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield
    sys.modules.pop("bank_marketing_common.aws", None)


def test_the_client_signs_links_with_sigv4_and_keeps_the_connections_settings(aws):
    from bank_marketing_common.aws import s3_client

    client = s3_client("bank-ml")

    assert client.meta.config.signature_version == "s3v4"
    assert client.meta.config.connect_timeout == 7  # the connection's config_kwargs still apply
    link = storage.presign(client, "s3://bank-ml/runs/r/report.html", 3600)
    query = parse_qs(urlsplit(link["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["3600"]


def test_the_client_of_a_bucket_in_another_region_signs_for_that_region(aws):
    from bank_marketing_common.aws import s3_client

    client = s3_client("bank-ml-eu")

    assert (client.meta.region_name, client.meta.config.signature_version) == ("eu-west-1", "s3v4")
    link = storage.presign(client, "s3://bank-ml-eu/runs/r/report.html", 3600)
    assert "/eu-west-1/s3/aws4_request" in parse_qs(urlsplit(link["url"]).query)["X-Amz-Credential"][0]
    # Without a bucket (or one it cannot locate) the client keeps the connection's region.
    assert s3_client().meta.region_name == s3_client("no-such-bucket").meta.region_name == "us-east-1"
