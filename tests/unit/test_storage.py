"""storage: S3 round trips (moto) and the sha256 gate in front of joblib.load."""

from __future__ import annotations

import hashlib
import io
import pickle
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from include.bank_marketing import storage
from tests.support.builders import BUCKET, all_keys, get_body

URI = f"s3://{BUCKET}/runs/r/thing"


def test_sha256_hex_known_vector():
    assert storage.sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_bytes_round_trip(s3):
    data = bytes(range(256)) * 3

    assert storage.write_bytes(s3, URI, data, "text/plain") == URI

    assert storage.read_bytes(s3, URI) == data
    assert s3.head_object(Bucket=BUCKET, Key="runs/r/thing")["ContentType"] == "text/plain"


def test_write_bytes_default_content_type(s3):
    storage.write_bytes(s3, URI, b"x")

    assert s3.head_object(Bucket=BUCKET, Key="runs/r/thing")["ContentType"] == "application/octet-stream"


def test_json_round_trip(s3):
    obj = {"b": [1, 2.5, None], "a": {"nested": "é"}, "ok": True}

    storage.write_json(s3, URI, obj)

    assert storage.read_json(s3, URI) == obj
    body = get_body(s3, "runs/r/thing")
    assert body.startswith(b'{\n  "a"')  # indented, keys sorted
    assert s3.head_object(Bucket=BUCKET, Key="runs/r/thing")["ContentType"] == "application/json"


def test_write_json_turns_other_objects_into_strings(s3):
    when = datetime(2026, 11, 28, 5, 34, tzinfo=UTC)

    storage.write_json(s3, URI, {"when": when})

    assert storage.read_json(s3, URI) == {"when": "2026-11-28 05:34:00+00:00"}


def test_parquet_round_trip_drops_the_index(s3):
    frame = pd.DataFrame(
        {
            "row_id": [3, 1, 2],
            "x": [0.5, np.nan, 2.0],
            "c": pd.Series(["a", None, "b"], dtype="str"),
            "y": pd.Series([1, 0, 1], dtype="int8"),
        },
        index=[10, 20, 30],
    )

    storage.write_parquet(s3, URI, frame)
    back = storage.read_parquet(s3, URI)

    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True))
    assert get_body(s3, "runs/r/thing")[:4] == b"PAR1"


def test_copy_object_leaves_the_source(s3):
    storage.write_bytes(s3, URI, b"payload")

    target = storage.copy_object(s3, URI, f"s3://{BUCKET}/copy/thing")

    assert target == f"s3://{BUCKET}/copy/thing"
    assert get_body(s3, "copy/thing") == b"payload"
    assert get_body(s3, "runs/r/thing") == b"payload"


def test_list_keys_sorted_and_filtered_by_prefix(s3):
    for key in ("runs/b/2", "runs/a/1", "rejected/a/x", "runs/b/1"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"")

    assert storage.list_keys(s3, BUCKET, "runs/") == ["runs/a/1", "runs/b/1", "runs/b/2"]
    assert storage.list_keys(s3, BUCKET) == ["rejected/a/x", "runs/a/1", "runs/b/1", "runs/b/2"]
    assert storage.list_keys(s3, BUCKET, "nothing/") == []


def _fitted_model() -> LogisticRegression:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    return LogisticRegression().fit(x, [0, 0, 1, 1])


def test_save_model_then_load_model(s3):
    model = _fitted_model()

    saved = storage.save_model(s3, URI, model)

    body = get_body(s3, "runs/r/thing")
    assert saved == {"uri": URI, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    loaded = storage.load_model(s3, URI, saved["sha256"])
    assert isinstance(loaded, LogisticRegression)
    x = np.array([[0.5], [2.5]])
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_dump_model_is_joblib_bytes():
    data = storage.dump_model({"a": [1, 2]})

    assert joblib.load(io.BytesIO(data)) == {"a": [1, 2]}


@pytest.fixture
def joblib_load_calls(monkeypatch):
    """Record calls of joblib.load (and refuse them), to prove the sha256 check comes first."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("joblib.load was called")

    monkeypatch.setattr(joblib, "load", refuse)
    return calls


def test_load_model_with_a_wrong_sha256_raises_integrity_error_without_unpickling(s3, joblib_load_calls):
    saved = storage.save_model(s3, URI, _fitted_model())
    wrong = "0" * 64

    with pytest.raises(storage.IntegrityError) as info:
        storage.load_model(s3, URI, wrong)

    message = str(info.value)
    assert URI in message
    assert saved["sha256"] in message
    assert wrong in message
    assert joblib_load_calls == []


def test_tampered_model_bytes_raise_integrity_error(s3, joblib_load_calls):
    saved = storage.save_model(s3, URI, _fitted_model())
    s3.put_object(Bucket=BUCKET, Key="runs/r/thing", Body=pickle.dumps({"evil": True}))

    with pytest.raises(storage.IntegrityError, match="refusing to load"):
        storage.load_model(s3, URI, saved["sha256"])

    assert joblib_load_calls == []


def test_bytes_that_are_not_a_pickle_give_integrity_error_not_an_unpickling_error(s3):
    storage.write_bytes(s3, URI, b"this is not a pickle at all")

    with pytest.raises(storage.IntegrityError):
        storage.load_model(s3, URI, hashlib.sha256(b"something else").hexdigest())


def test_load_model_bytes_checks_then_loads():
    data = storage.dump_model([1, 2, 3])

    assert storage.load_model_bytes(data, hashlib.sha256(data).hexdigest()) == [1, 2, 3]
    with pytest.raises(storage.IntegrityError, match="refusing to load candidate"):
        storage.load_model_bytes(data + b"\x00", hashlib.sha256(data).hexdigest(), source="candidate")


def test_integrity_error_is_a_runtime_error():
    assert issubclass(storage.IntegrityError, RuntimeError)


def test_nothing_else_is_written(s3):
    storage.save_model(s3, URI, [1])
    storage.write_json(s3, f"s3://{BUCKET}/a.json", {})

    assert all_keys(s3) == ["a.json", "runs/r/thing"]


def _sigv4_client(region: str = "us-east-1"):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", region_name=region, config=Config(signature_version="s3v4"))


def test_presign_signs_with_sigv4_for_the_lifetime_asked_and_says_when_it_ends(s3):
    before = datetime.now(UTC).replace(microsecond=0)

    link = storage.presign(_sigv4_client(), f"s3://{BUCKET}/runs/r/report.html", 7200)

    query = parse_qs(urlsplit(link["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["7200"]
    assert "/us-east-1/s3/aws4_request" in query["X-Amz-Credential"][0]
    expires = datetime.fromisoformat(link["expires_at"])
    assert before + timedelta(seconds=7200) <= expires <= datetime.now(UTC) + timedelta(seconds=7201)
    assert link["capped_by_credentials"] is False  # access keys do not expire


def test_presign_of_a_client_signing_sigv2_shows_it(s3):
    # The default client here signs Signature Version 2, which real S3 refuses: why the DAG's client is s3v4.
    query = parse_qs(urlsplit(storage.presign(s3, f"s3://{BUCKET}/k", 60)["url"]).query)
    assert "Signature" in query and "X-Amz-Algorithm" not in query


def test_a_link_signed_with_role_credentials_ends_when_they_do():
    from botocore.credentials import RefreshableCredentials

    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    credentials = RefreshableCredentials(
        "AKIAROLE", "secret", "token", ends, refresh_using=lambda: {}, method="assume-role"
    )
    client = _sigv4_client()
    client._request_signer._credentials = credentials  # what an instance profile or IRSA gives the client

    link = storage.presign(client, f"s3://{BUCKET}/runs/r/report.html", 24 * 3600)

    assert storage.credentials_expiry(client) == ends
    assert (link["expires_at"], link["capped_by_credentials"]) == (ends.isoformat(timespec="seconds"), True)
    assert parse_qs(urlsplit(link["url"]).query)["X-Amz-Expires"] == ["86400"]  # asked for, but the role ends first


def test_bucket_region_is_where_the_bucket_lives(s3):
    eu = _sigv4_client("eu-west-1")
    eu.create_bucket(Bucket="bank-ml-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    assert storage.bucket_region(s3, BUCKET) == "us-east-1"  # S3's null location
    assert storage.bucket_region(s3, "bank-ml-eu") == "eu-west-1"
    assert storage.bucket_region(s3, "no-such-bucket") is None
    link = storage.presign(_sigv4_client("eu-west-1"), "s3://bank-ml-eu/report.html", 60)
    assert "/eu-west-1/s3/aws4_request" in parse_qs(urlsplit(link["url"]).query)["X-Amz-Credential"][0]


def test_presign_is_none_when_the_client_cannot_sign():
    from botocore.exceptions import NoCredentialsError

    class Unsigned:
        def generate_presigned_url(self, *args, **kwargs):
            raise NoCredentialsError()

    assert storage.presign(Unsigned(), f"s3://{BUCKET}/runs/r/report.html", 60) is None


def test_presign_rejects_a_non_s3_uri(s3):
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        storage.presign(s3, "https://example.com/report.html", 60)
