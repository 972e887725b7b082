"""plugins/bank_marketing_triggers.py: the S3ArrivalTrigger's run() against moto's HTTP server.

moto sends real S3 event notifications to a real SQS queue (an ``s3:TestEvent`` when the notification is
configured, then one message per new object), and the trigger reads them through the ``aws_default``
connection, as it does in the triggerer. No Airflow database: without an injected state store the trigger
remembers files in memory, and the persisted case is a dict-backed stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devtools.local_aws import LocalAws
from include.bank_marketing import arrivals

# Airflow puts the plugins folder on sys.path when `airflow` is imported (tests/conftest.py points
# AIRFLOW__CORE__PLUGINS_FOLDER at it); this module must not depend on something else importing it first.
PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))

from bank_marketing_triggers import S3ArrivalTrigger  # ruff: ignore[module-import-not-at-top-of-file]

BUCKET = "bank-ml"
QUEUE = "bank-ml-incoming"
PAYLOAD_FIELDS = {"bucket", "key", "etag", "size", "event_name", "event_time"}


@pytest.fixture(scope="module")
def moto_server():
    """moto's HTTP server on a free 127.0.0.1 port, for this module."""
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def aws(moto_server, monkeypatch):
    """The server with every backend reset, bucket ``bank-ml`` notifying queue ``bank-ml-incoming`` of each
    new object, and ``aws_default`` pointing at it (no AWS_* variable in the way)."""
    request = urllib.request.Request(f"{moto_server.endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(moto_server.connection()))

    s3, sqs = moto_server.client("s3"), moto_server.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    moto_server.queue_url = queue_url
    return moto_server


class DictStateStore:
    """The asset state store the triggerer injects (AssetStateStoreAccessors of one asset), on a dict."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")  # as Airflow's accessor
        self.values[key] = value


class RecordingLog:
    """Stands in for the trigger's structlog logger: keeps each call as (level, message)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def _record(self, level: str, message: str, *args: Any, **kwargs: Any) -> None:
        self.records.append((level, message % args if args else message))

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("debug", message, *args)

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("info", message, *args)

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("warning", message, *args)

    def error(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._record("error", message, *args)

    def messages(self, level: str) -> list[str]:
        return [message for lvl, message in self.records if lvl == level]


def make_trigger(queue: str = QUEUE, **kwargs: Any) -> S3ArrivalTrigger:
    kwargs.setdefault("wait_time_seconds", 1)
    kwargs.setdefault("error_delay_seconds", 1)
    trigger = S3ArrivalTrigger(queue=queue, bucket=BUCKET, prefix="raw/", suffix=".csv", **kwargs)
    trigger._log = RecordingLog()  # type: ignore[assignment]
    return trigger


async def collect(
    agen: AsyncIterator[Any], *, quiet: float = 2.0, first: float = 10.0, limit: float = 20
) -> list[dict[str, Any]]:
    """The payloads ``agen`` yields until it yields nothing for ``quiet`` seconds (then it is cancelled, as the
    triggerer cancels a watcher), within ``limit`` seconds in all.

    Waiting past the last event matters: the trigger remembers a file and deletes its message only when it is
    resumed after yielding the event. ``quiet`` covers more than one empty long poll of 1 s; the first event
    may take up to ``first`` seconds (the connection and queue lookup come first, slower on a busy machine).
    """
    payloads: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            try:
                event = await asyncio.wait_for(agen.__anext__(), quiet if payloads else first)
            except TimeoutError:
                break
            payloads.append(event.payload)
    finally:
        await agen.aclose()
    return payloads


def put(aws: LocalAws, key: str, data: bytes = b"age,y\n30,no\n") -> str:
    """Upload ``data`` to ``key``; its ETag, unquoted."""
    return aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')


def multipart_put(aws: LocalAws, key: str) -> str:
    s3 = aws.client("s3")
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    part = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"age,y\n40,yes\n")
    done = s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    return done["ETag"].strip('"')


def queue_bodies(aws: LocalAws) -> list[str]:
    """Every message body now in the queue, left there (visible again at once)."""
    sqs = aws.client("sqs")
    bodies, handles = [], []
    while True:
        batch = sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not batch.get("Messages"):
            break
        bodies += [message["Body"] for message in batch["Messages"]]
        handles += [message["ReceiptHandle"] for message in batch["Messages"]]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=aws.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return bodies


def messages_left(aws: LocalAws) -> int:
    """Messages in the queue, visible or received and not deleted."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def seen_key_of(key: str, etag: str) -> str:
    obj = {"bucket": BUCKET, "key": key, "etag": etag, "size": 0, "event_name": "", "event_time": ""}
    return arrivals.seen_key(obj)  # type: ignore[arg-type]


def test_one_event_per_new_training_file(aws):
    etag_a = put(aws, "raw/a.csv")
    put(aws, "raw/b.txt")  # not a training file
    put(aws, "other/c.csv")  # outside the prefix
    etag_mp = multipart_put(aws, "raw/mp.csv")  # moto notifies Put and CompleteMultipartUpload
    bodies = queue_bodies(aws)
    [body_a] = [body for body in bodies if '"raw%2Fa.csv"' in body]
    aws.client("sqs").send_message(QueueUrl=aws.queue_url, MessageBody=body_a)  # a duplicate delivery
    assert sum('"raw%2Fmp.csv"' in body for body in bodies) == 2
    assert any("s3:TestEvent" in body for body in bodies)
    trigger = make_trigger()

    payloads = asyncio.run(collect(trigger.run()))

    assert [(p["key"], p["etag"]) for p in payloads] == [("raw/a.csv", etag_a), ("raw/mp.csv", etag_mp)]
    for payload in payloads:
        assert set(payload) >= PAYLOAD_FIELDS
        assert payload["bucket"] == BUCKET
        assert payload["event_name"].startswith("ObjectCreated:")
        assert payload["event_time"]
        assert json.loads(json.dumps(payload)) == payload  # stored as the asset event's extra
    assert payloads[0]["size"] == len(b"age,y\n30,no\n")
    assert messages_left(aws) == 0
    skipped = "\n".join(trigger.log.messages("info"))
    for phrase in ("raw/b.txt", "other/c.csv", "already announced", "s3:TestEvent"):
        assert phrase in skipped


def test_the_state_store_remembers_files_across_restarts(aws):
    etag_old = put(aws, "raw/old.csv")
    etag_new = put(aws, "raw/new.csv")
    store = DictStateStore({seen_key_of("raw/old.csv", etag_old): "2026-11-29T00:00:00.000Z"})
    # No run claims the file here: announce without waiting for one.
    trigger = make_trigger(queue=aws.queue_url, claim_wait_seconds=0)  # a queue URL is used as it is
    trigger.asset_state_store = store  # as the triggerer injects it

    payloads = asyncio.run(collect(trigger.run()))

    assert [p["key"] for p in payloads] == ["raw/new.csv"]
    assert store.values[seen_key_of("raw/new.csv", etag_new)] == payloads[0]["event_time"]
    assert set(store.values) == {seen_key_of("raw/old.csv", etag_old), seen_key_of("raw/new.csv", etag_new)}
    assert messages_left(aws) == 0

    # A restarted trigger (nothing in memory) that gets the same notification again starts nothing. The
    # first trigger was cancelled in a long poll that moto still serves for up to wait_time_seconds: a message
    # sent before it ends goes to that abandoned request (in flight for 30 s), so wait it out.
    time.sleep(1.5)
    put(aws, "raw/new.csv")  # byte-identical upload: same ETag
    restarted = make_trigger(claim_wait_seconds=0)
    restarted.asset_state_store = store
    assert asyncio.run(collect(restarted.run(), first=4)) == []
    assert messages_left(aws) == 0


def test_the_next_file_is_announced_once_a_run_has_taken_the_previous_one(aws):
    """Airflow folds an event that arrives before the run for the previous one exists into no run or a later
    one; the trigger announces one file at a time, the next once resolve_input has claimed the previous."""
    put(aws, "raw/a.csv")
    put(aws, "raw/b.csv")
    store = DictStateStore()
    trigger = make_trigger(claim_wait_seconds=30)
    trigger.asset_state_store = store

    async def announce() -> tuple[dict, bool, dict]:
        agen = trigger.run()
        try:
            first = (await asyncio.wait_for(agen.__anext__(), 10)).payload
            following = asyncio.ensure_future(agen.__anext__())
            await asyncio.sleep(2.5)
            early = following.done()
            store.values[arrivals.claim_key(arrivals.identity(first))] = "asset_triggered__run_a"  # its run took it
            second = (await asyncio.wait_for(following, 10)).payload
            return first, early, second
        finally:
            await agen.aclose()

    first, early, second = asyncio.run(announce())

    assert [first["key"], second["key"]] == ["raw/a.csv", "raw/b.csv"]
    assert not early, "the second file was announced before a run had taken the first"


def test_a_cancelled_trigger_hands_its_unannounced_files_on_within_the_hold(aws):
    """While a trigger waits for a claim, the messages it received stay hidden past ``hold_seconds`` (it extends
    them); once it is cancelled (a triggerer restart) they come back within ``hold_seconds``, and its successor
    announces the files not yet announced, not the one that was."""
    put(aws, "raw/a.csv")
    put(aws, "raw/b.csv")
    store = DictStateStore()
    hold = 3

    async def first_trigger() -> tuple[dict, int]:
        trigger = make_trigger(claim_wait_seconds=60, hold_seconds=hold)
        trigger.asset_state_store = store
        agen = trigger.run()
        try:
            announced = (await asyncio.wait_for(agen.__anext__(), 10)).payload
            waiting = asyncio.ensure_future(agen.__anext__())  # remembers the file, waits for its claim
            await asyncio.sleep(2 * hold + 1)
            visible = len(
                (
                    await asyncio.to_thread(
                        aws.client("sqs").receive_message,
                        QueueUrl=aws.queue_url,
                        MaxNumberOfMessages=10,
                        WaitTimeSeconds=0,
                    )
                ).get("Messages", [])
            )
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            return announced, visible
        finally:
            await agen.aclose()

    announced, visible_while_held = asyncio.run(first_trigger())
    cancelled_at = time.monotonic()
    successor = make_trigger(claim_wait_seconds=0, hold_seconds=hold)
    successor.asset_state_store = store

    payloads = asyncio.run(collect(successor.run(), first=hold + 6))

    assert visible_while_held == 0, "the held messages became visible while their trigger still worked on them"
    assert announced["key"] == "raw/a.csv"
    assert [p["key"] for p in payloads] == ["raw/b.csv"]
    assert time.monotonic() - cancelled_at < hold + 8
    assert messages_left(aws) == 0


def test_a_missing_queue_is_retried_not_raised(aws):
    trigger = make_trigger(queue="no-such-queue", error_delay_seconds=1)

    async def run_for(seconds: float) -> None:
        agen = trigger.run()
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(agen.__anext__(), seconds)
        finally:
            await agen.aclose()

    asyncio.run(run_for(3))

    warnings = trigger.log.messages("warning")
    assert len(warnings) >= 2, trigger.log.records
    assert all("Cannot read queue no-such-queue" in warning for warning in warnings)


def test_serialize_round_trips():
    trigger = S3ArrivalTrigger(
        queue="https://sqs.us-east-1.amazonaws.com/123456789012/bank-ml-incoming",
        bucket=BUCKET,
        prefix="raw/",
        suffix=".csv",
        aws_conn_id="aws_events",
        wait_time_seconds=5,
        error_delay_seconds=7,
    )

    classpath, kwargs = trigger.serialize()

    assert classpath == "bank_marketing_triggers.S3ArrivalTrigger"
    assert kwargs == {
        "queue": "https://sqs.us-east-1.amazonaws.com/123456789012/bank-ml-incoming",
        "bucket": BUCKET,
        "prefix": "raw/",
        "suffix": ".csv",
        "aws_conn_id": "aws_events",
        "wait_time_seconds": 5,
        "error_delay_seconds": 7,
        "claim_wait_seconds": 60,
        "hold_seconds": 30,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert S3ArrivalTrigger(**kwargs).serialize() == (classpath, kwargs)
    # Defaults are serialized too, so the stored trigger does not change when a default does.
    assert set(S3ArrivalTrigger(queue="q", bucket="b", prefix="", suffix="").serialize()[1]) == set(kwargs)


def test_md5_etag_of_a_put_is_what_identity_sees(aws):
    """The ETag in the notification is the one put_object returns (so seen keys can be computed by hand)."""
    data = b"age,y\n1,no\n"
    etag = put(aws, "raw/x.csv", data)

    assert etag == hashlib.md5(data).hexdigest()
    [body] = [body for body in queue_bodies(aws) if "raw%2Fx.csv" in body]
    [obj] = arrivals.parse_message(body)
    assert arrivals.seen_key(obj) == seen_key_of("raw/x.csv", etag)


def test_other_messages_are_dropped_and_sns_envelopes_unwrapped(aws):
    etag = put(aws, "raw/via-sns.csv")
    [s3_body] = [body for body in queue_bodies(aws) if "raw%2Fvia-sns.csv" in body]
    aws.client("sqs").purge_queue(QueueUrl=aws.queue_url)
    sqs = aws.client("sqs")
    for message in (
        "not json",
        json.dumps({"hello": "world"}),
        json.dumps({"Type": "Notification", "Message": s3_body}),
    ):
        sqs.send_message(QueueUrl=aws.queue_url, MessageBody=message)

    payloads = asyncio.run(collect(make_trigger().run()))

    assert [(p["key"], p["etag"]) for p in payloads] == [("raw/via-sns.csv", etag)]
    assert messages_left(aws) == 0
