"""S3 input and output: bytes, Parquet, JSON and sha256-verified model pickles.

Every function takes a boto3 S3 client, so the same code runs against real AWS, LocalStack or moto:
the client decides the endpoint (in the DAG it comes from the Airflow connection).
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from include.bank_marketing.contracts import Link
from include.bank_marketing.layout import parse_s3_uri, s3_uri


class IntegrityError(RuntimeError):
    """A model's bytes do not match the sha256 recorded when it was written."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_bytes(s3: Any, uri: str) -> bytes:
    """Whole body of the object at ``uri``."""
    bucket, key = parse_s3_uri(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def write_bytes(s3: Any, uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """Write ``data`` to ``uri`` and return the URI."""
    bucket, key = parse_s3_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return uri


def write_json(s3: Any, uri: str, obj: Any) -> str:
    """Write ``obj`` as indented UTF-8 JSON to ``uri``."""
    body = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    return write_bytes(s3, uri, body, "application/json")


def read_json(s3: Any, uri: str) -> Any:
    """Parse the JSON object at ``uri``."""
    return json.loads(read_bytes(s3, uri))


def write_parquet(s3: Any, uri: str, frame: Any) -> str:
    """Write a DataFrame as Parquet to ``uri`` (index dropped; keep ids as columns)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return write_bytes(s3, uri, buf.getvalue(), "application/vnd.apache.parquet")


def read_parquet(s3: Any, uri: str) -> Any:
    """Read the Parquet object at ``uri`` into a DataFrame."""
    import pandas as pd

    return pd.read_parquet(io.BytesIO(read_bytes(s3, uri)))


def copy_object(s3: Any, source_uri: str, target_uri: str) -> str:
    """Server-side copy; the source is left as it is."""
    src_bucket, src_key = parse_s3_uri(source_uri)
    bucket, key = parse_s3_uri(target_uri)
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": src_bucket, "Key": src_key})
    return target_uri


def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    """All keys under ``prefix``, sorted."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def dump_model(model: Any) -> bytes:
    """Pickle ``model`` with joblib into bytes."""
    import joblib

    buf = io.BytesIO()
    joblib.dump(model, buf)
    return buf.getvalue()


def save_model(s3: Any, uri: str, model: Any) -> dict[str, Any]:
    """Write ``model`` with joblib to ``uri``; returns ``{"uri", "sha256", "bytes"}`` to record beside it."""
    data = dump_model(model)
    write_bytes(s3, uri, data)
    return {"uri": uri, "sha256": sha256_hex(data), "bytes": len(data)}


def verify_bytes(data: bytes, expected_sha256: str, source: str = "model", action: str = "load") -> bytes:
    """``data`` itself if its sha256 equals ``expected_sha256``; else ``IntegrityError`` naming both values."""
    actual = sha256_hex(data)
    if actual != expected_sha256:
        raise IntegrityError(
            f"refusing to {action} {source}: sha256 {actual} does not match the recorded {expected_sha256}"
        )
    return data


def load_model_bytes(data: bytes, expected_sha256: str, source: str = "model") -> Any:
    """``joblib.load`` ``data`` only if its sha256 equals ``expected_sha256`` (a pickle is code)."""
    import joblib

    return joblib.load(io.BytesIO(verify_bytes(data, expected_sha256, source)))


def load_model(s3: Any, uri: str, expected_sha256: str) -> Any:
    """Download the pickle at ``uri``, verify its sha256, then ``joblib.load`` it."""
    return load_model_bytes(read_bytes(s3, uri), expected_sha256, source=uri)


def credentials_expiry(s3: Any) -> datetime | None:
    """When the credentials that sign for ``s3`` expire: role credentials (an instance profile, IRSA, an
    assumed role) do, within hours; access keys do not (None). botocore keeps this on the client's signer, with
    no public accessor: read defensively, None when it cannot be told."""
    credentials = getattr(getattr(s3, "_request_signer", None), "_credentials", None)
    expiry = getattr(credentials, "_expiry_time", None)
    return expiry if isinstance(expiry, datetime) else None


def presign(s3: Any, uri: str, seconds: int) -> Link | None:
    """A presigned HTTPS GET link to ``uri`` valid ``seconds``, and when it really stops working: the earlier of
    that and the signing credentials' expiry (a link signed with role credentials dies with them). None when
    the client cannot sign (e.g. no credentials).

    Signed as the client is configured: the DAG's client signs with Signature Version 4 (``s3v4``) in the
    bucket's region, which real S3 requires (``bank_marketing_common.aws.s3_client``).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3_uri(uri)
    try:
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)
    except (BotoCoreError, ClientError):
        return None
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
    expiry = credentials_expiry(s3)
    capped = expiry is not None and expiry < until
    return {
        "url": url,
        "expires_at": (expiry if capped and expiry else until).astimezone(UTC).isoformat(timespec="seconds"),
        "capped_by_credentials": capped,
    }


def bucket_region(s3: Any, bucket: str) -> str | None:
    """The region ``bucket`` lives in (``us-east-1`` for S3's null location), or None when it cannot be told
    (no ``s3:GetBucketLocation`` permission, or the bucket is not there yet)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except (BotoCoreError, ClientError):
        return None


__all__ = [
    "IntegrityError",
    "bucket_region",
    "copy_object",
    "credentials_expiry",
    "dump_model",
    "list_keys",
    "load_model",
    "load_model_bytes",
    "presign",
    "read_bytes",
    "read_json",
    "read_parquet",
    "s3_uri",
    "save_model",
    "sha256_hex",
    "verify_bytes",
    "write_bytes",
    "write_json",
    "write_parquet",
]
