"""New files announced by S3 event notifications: which of them start a training run, and on which key.

S3 sends an ``ObjectCreated`` notification to an SQS queue; the triggerer's watcher (plugins/
bank_marketing_triggers.py) reads the queue and turns each new object that passes :class:`WatchRule` into one
asset event; the training run it starts resolves its input with :func:`resolve`. Everything here is plain
Python on JSON values: no Airflow, no AWS calls.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from include.bank_marketing.contracts import NewObject, OtherRun, RunInput, StartedBy

# The run id of a run started for one file of a batch of events: FILE_RUN_PREFIX, the key's safe spelling, the
# file's identity. Deterministic, so the same file can never get two such runs.
FILE_RUN_PREFIX = "file__"
# Airflow's default [core] allowed_run_id_pattern is ^[A-Za-z0-9_.~:+-]+$; run ids are at most 250 characters.
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:-]")
_RUN_ID_KEY_CHARS = 120


@dataclass(frozen=True)
class WatchRule:
    """Which objects are training files: in ``bucket``, under ``prefix``, ending in ``suffix``."""

    bucket: str
    prefix: str
    suffix: str

    def why_not(self, obj: NewObject) -> str | None:
        """Why ``obj`` starts no run (a short phrase for the triggerer's log), or None when it is wanted."""
        if obj["bucket"] != self.bucket:
            return f"bucket {obj['bucket']!r} is not the watched {self.bucket!r}"
        if not obj["key"].startswith(self.prefix):
            return f"key {obj['key']!r} is outside the watched prefix {self.prefix!r}"
        if not obj["key"].endswith(self.suffix):
            return f"key {obj['key']!r} does not end with {self.suffix!r}"
        if obj["key"].endswith("/"):
            return f"key {obj['key']!r} is a folder marker"
        return None


def parse_message(body: str) -> list[NewObject]:
    """The new objects an SQS message body announces: an S3 event notification, directly or inside an SNS
    envelope (a queue subscribed to a topic the bucket notifies).

    ``s3:TestEvent`` (sent when a notification is configured), events other than ``ObjectCreated:*`` and
    bodies that are not S3 notifications give no object. Keys arrive URL-encoded (``+`` for a space).
    """
    try:
        document = json.loads(body)
    except (TypeError, ValueError):
        return []
    if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
        return parse_message(document["Message"])  # SNS -> SQS: the S3 notification is the envelope's Message
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        return []
    objects = []
    for record in records:
        obj = _object_of(record)
        if obj is not None:
            objects.append(obj)
    return objects


def _object_of(record: Any) -> NewObject | None:
    """The record's object, or None for anything else: another event, or a record that is not S3's shape (a
    malformed message must not stop the watcher, which would read it again after every restart)."""
    try:
        event_name = str(record["eventName"])
        bucket = str(record["s3"]["bucket"]["name"])
        raw = record["s3"]["object"]
        key = unquote_plus(str(raw["key"]))
        if not event_name.startswith("ObjectCreated:") or not key:
            return None
        return _new_object(
            bucket=bucket,
            key=key,
            etag=str(raw.get("eTag") or "").strip('"'),
            size=raw.get("size"),
            event_name=event_name,
            event_time=record.get("eventTime"),
            version_id=raw.get("versionId"),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _new_object(
    *, bucket: str, key: str, etag: Any, size: Any, event_name: Any, event_time: Any, version_id: Any
) -> NewObject:
    """A ``NewObject`` of JSON values (missing ones empty); ``version_id`` only when there is one."""
    obj: NewObject = {
        "bucket": str(bucket),
        "key": str(key),
        "etag": str(etag or ""),
        "size": int(size or 0),
        "event_name": str(event_name or ""),
        "event_time": str(event_time or ""),
    }
    if version_id:
        obj["version_id"] = str(version_id)
    return obj


def identity(obj: NewObject) -> str:
    """What makes a file a new one: bucket, key and version (the version id, else the ETag).

    Two notifications of one object version (an SQS redelivery, S3's rare duplicate delivery, or moto's ``Put``
    beside ``CompleteMultipartUpload`` for one multipart upload) share it; a new upload to the same key with
    other content has another ETag, so it is a new file. (A byte-identical re-upload is not: training on it
    again would give the same model.)
    """
    version = obj.get("version_id") or obj["etag"]
    digest = hashlib.sha256("\n".join([obj["bucket"], obj["key"], version]).encode()).hexdigest()
    return digest[:32]


def seen_key(obj: NewObject) -> str:
    """The watcher's state-store key marking ``obj`` as already announced."""
    return f"seen:{identity(obj)}"


def objects_of_events(extras: Iterable[Mapping[str, Any]]) -> list[NewObject]:
    """The files named by a run's triggering asset events (their ``extra``), in the order they arrived.

    Events without a file payload (e.g. one created by hand in the UI) are left out; a file named twice is
    kept once.
    """
    objects: list[NewObject] = []
    seen: set[str] = set()
    for extra in extras:
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        if not isinstance(payload, Mapping) or not payload.get("key") or not payload.get("bucket"):
            continue
        obj = _new_object(
            bucket=payload["bucket"],
            key=payload["key"],
            etag=payload.get("etag"),
            size=payload.get("size"),
            event_name=payload.get("event_name"),
            event_time=payload.get("event_time"),
            version_id=payload.get("version_id"),
        )
        if identity(obj) not in seen:
            seen.add(identity(obj))
            objects.append(obj)
    return objects


def literal_key(key: str) -> str:
    """``key`` as an ``input_key`` Param value that renders to itself (input_key is a Jinja template): as it
    is, or, if it holds Jinja's delimiters, as a quoted Jinja string (a raw block could be ended by the key)."""
    if "{" not in key:
        return key
    return '{{ "' + key.replace("\\", "\\\\").replace('"', '\\"') + '" }}'


def file_run_id(obj: NewObject) -> str:
    """The run id of the run started for ``obj``: readable (the key) and unique (its identity)."""
    readable = _RUN_ID_UNSAFE.sub("_", obj["key"])[-_RUN_ID_KEY_CHARS:]
    return f"{FILE_RUN_PREFIX}{readable}__{identity(obj)[:12]}"


def resolve(
    *,
    bucket: str,
    default_key: Callable[[], str],
    run_type: str,
    run_id: str,
    extras: Iterable[Mapping[str, Any]],
    claimed_by: Callable[[str], Any] | None = None,
) -> RunInput:
    """The input of a training run.

    A run started by file events trains on the oldest file of ``extras`` (the asset's recent events, its own
    among them) that no run has claimed yet (``claimed_by``: file identity -> the run that took it, or None),
    and starts one run of its own for each other unclaimed file: Airflow 3.3 folds events that arrive together
    into one run, or leaves an event that arrives while the run for an earlier one is being created to no run
    at all. ``claims`` in the result are the files this run takes, to be recorded before the other runs are
    started. When every file already has its run, ``key`` is None: the run has nothing to do.

    Any other run (the schedule, the trigger form, a backfill, or a run started for one file) trains on
    ``default_key()``, the rendered ``input_key`` Param (rendered only then: it may use ``{{ ds }}``, which a
    run started by an event does not have). A file in another bucket than the run's is an error:
    the run writes its artifacts next to its input.
    """
    objects = objects_of_events(extras) if run_type == "asset_triggered" else []
    if not objects:
        started = {"scheduled": StartedBy.SCHEDULE, "asset_triggered": StartedBy.FILE_EVENT}.get(run_type)
        if started is None:
            started = StartedBy.FILE_EVENT if run_id.startswith(FILE_RUN_PREFIX) else StartedBy.MANUAL
        return {"key": default_key(), "started_by": started, "other_runs": [], "claims": {}}
    unclaimed = [obj for obj in objects if not (claimed_by and claimed_by(identity(obj)))]
    for obj in unclaimed:
        if obj["bucket"] != bucket:
            raise ValueError(
                f"the file event names s3://{obj['bucket']}/{obj['key']}, but this run's bucket is {bucket!r}: "
                "point the watcher (BANK_ML_EVENTS_BUCKET) and the bucket Param at the same bucket"
            )
    if not unclaimed:
        return {"key": None, "started_by": StartedBy.FILE_EVENT, "other_runs": [], "claims": {}}
    others: list[OtherRun] = [
        {"trigger_run_id": file_run_id(obj), "conf": {"bucket": obj["bucket"], "input_key": literal_key(obj["key"])}}
        for obj in unclaimed[1:]
    ]
    claims = {identity(unclaimed[0]): run_id} | {
        identity(obj): other["trigger_run_id"] for obj, other in zip(unclaimed[1:], others, strict=True)
    }
    return {"key": unclaimed[0]["key"], "started_by": StartedBy.FILE_EVENT, "other_runs": others, "claims": claims}


def claim_key(file_identity: str) -> str:
    """The asset state-store key recording which run took a file (its value: the run id)."""
    return f"run:{file_identity}"
