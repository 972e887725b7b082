"""include/bank_marketing/arrivals.py: S3 notifications in, new files and a training run's input out.

The message bodies below are hand-written copies of what S3 (and moto's server, which the trigger test drives
for real) put on an SQS queue: keys URL-encoded, one record per message.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from include.bank_marketing import arrivals
from include.bank_marketing.arrivals import WatchRule
from include.bank_marketing.contracts import NewObject, StartedBy
from include.bank_marketing.layout import render_key

BUCKET = "bank-ml"
# Airflow's default [core] allowed_run_id_pattern, and its run id column's length.
AIRFLOW_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.~:+-]+$")
MAX_RUN_ID = 250
MULTIPART_ETAG = "65d79814053817eae59f7c7cee98d3f8-1"


def s3_record(
    key: str,
    *,
    etag: str = "9dd4e461268c8034f5c8564e155c67a6",
    event_name: str = "ObjectCreated:Put",
    bucket: str = BUCKET,
    size: int = 1024,
    version_id: str | None = None,
    event_time: str = "2026-11-29T21:55:17.293Z",
) -> dict[str, Any]:
    """One record of an S3 event notification, as S3 writes it (``key`` given already URL-encoded)."""
    obj: dict[str, Any] = {"key": key, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}
    if version_id is not None:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "bank-ml-incoming",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def body(*records: dict[str, Any]) -> str:
    """An SQS message body carrying ``records`` (S3 -> SQS directly)."""
    return json.dumps({"Records": list(records)})


def sns_envelope(message: str) -> str:
    """An SQS message body of a queue subscribed to an SNS topic the bucket notifies (raw delivery off)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:bank-ml-incoming",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2026-11-29T21:55:17.400Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def new_object(key: str, *, etag: str = "9dd4e461268c8034f5c8564e155c67a6", bucket: str = BUCKET, **more: Any):
    obj: NewObject = {
        "bucket": bucket,
        "key": key,
        "etag": etag,
        "size": 1024,
        "event_name": "ObjectCreated:Put",
        "event_time": "2026-11-29T21:55:17.293Z",
    }
    obj.update(more)  # type: ignore[typeddict-item]
    return obj


def extra_of(obj: NewObject) -> dict[str, Any]:
    """An asset event's ``extra`` as Airflow stores it for a watcher's TriggerEvent."""
    return {"from_trigger": True, "payload": dict(obj)}


# --- parse_message ----------------------------------------------------------------------------------------


def test_parse_message_decodes_a_real_notification():
    message = body(s3_record("raw%2Fa+b%2Bc%25.csv", etag='"9dd4e461268c8034f5c8564e155c67a6"', size=1))

    assert arrivals.parse_message(message) == [
        {
            "bucket": BUCKET,
            "key": "raw/a b+c%.csv",
            "etag": "9dd4e461268c8034f5c8564e155c67a6",
            "size": 1,
            "event_name": "ObjectCreated:Put",
            "event_time": "2026-11-29T21:55:17.293Z",
        }
    ]


def test_parse_message_keeps_the_version_id_of_a_versioned_bucket():
    [obj] = arrivals.parse_message(body(s3_record("raw%2Fa.csv", version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")))

    assert obj["version_id"] == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert "version_id" not in arrivals.parse_message(body(s3_record("raw%2Fa.csv")))[0]


def test_parse_message_gives_every_created_record_in_order():
    message = body(
        s3_record("raw%2Fa.csv", event_name="ObjectCreated:Put"),
        s3_record("raw%2Fgone.csv", event_name="ObjectRemoved:Delete"),
        s3_record("raw%2Fb.csv", event_name="ObjectCreated:CompleteMultipartUpload"),
        s3_record("raw%2Fc.csv", event_name="ObjectCreated:Copy"),
    )

    assert [(o["key"], o["event_name"]) for o in arrivals.parse_message(message)] == [
        ("raw/a.csv", "ObjectCreated:Put"),
        ("raw/b.csv", "ObjectCreated:CompleteMultipartUpload"),
        ("raw/c.csv", "ObjectCreated:Copy"),
    ]


def test_parse_message_ignores_the_test_event():
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-29T21:55:17.278Z", "Bucket": BUCKET}

    assert arrivals.parse_message(json.dumps(test_event)) == []
    assert arrivals.parse_message(sns_envelope(json.dumps(test_event))) == []


@pytest.mark.parametrize(
    "message",
    [
        "",
        "not json",
        "{'Records': []}",
        "null",
        "42",
        '"a string"',
        "[]",
        '[{"Records": []}]',
        "{}",
        '{"Records": null}',
    ],
)
def test_parse_message_ignores_what_is_not_a_notification(message):
    assert arrivals.parse_message(message) == []


@pytest.mark.parametrize(
    "event_name", ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated", "ObjectRestore:Post"]
)
def test_parse_message_ignores_events_other_than_object_created(event_name):
    assert arrivals.parse_message(body(s3_record("raw%2Fa.csv", event_name=event_name))) == []


def test_parse_message_skips_a_broken_record_but_keeps_the_others():
    broken = s3_record("raw%2Fbroken.csv")
    del broken["s3"]["object"]["key"]
    message = body(broken, {"eventName": "ObjectCreated:Put"}, s3_record("raw%2Fa.csv"))

    assert [o["key"] for o in arrivals.parse_message(message)] == ["raw/a.csv"]


def test_parse_message_unwraps_an_sns_envelope():
    s3_message = body(s3_record("raw%2Fnew+file.csv", etag='"65d79814053817eae59f7c7cee98d3f8"'))

    assert arrivals.parse_message(sns_envelope(s3_message)) == arrivals.parse_message(s3_message)
    [obj] = arrivals.parse_message(sns_envelope(s3_message))
    assert (obj["key"], obj["etag"]) == ("raw/new file.csv", "65d79814053817eae59f7c7cee98d3f8")


def test_parse_message_accepts_missing_etag_and_size():
    record = s3_record("raw%2Fa.csv")
    del record["s3"]["object"]["eTag"], record["s3"]["object"]["size"]

    [obj] = arrivals.parse_message(body(record))
    assert (obj["etag"], obj["size"]) == ("", 0)


# --- WatchRule ----------------------------------------------------------------------------------------------

RULE = WatchRule(bucket=BUCKET, prefix="raw/", suffix=".csv")


def test_watch_rule_wants_a_csv_under_the_prefix():
    assert RULE.why_not(new_object("raw/a.csv")) is None
    assert RULE.why_not(new_object("raw/2026/11/a b.csv")) is None


@pytest.mark.parametrize(
    ("obj", "phrase"),
    [
        (new_object("raw/a.csv", bucket="other-bucket"), "bucket 'other-bucket' is not the watched 'bank-ml'"),
        (new_object("other/a.csv"), "outside the watched prefix 'raw/'"),
        (new_object("a.csv"), "outside the watched prefix 'raw/'"),
        (new_object("raw/a.txt"), "does not end with '.csv'"),
        (new_object("raw/a.csv.gz"), "does not end with '.csv'"),
        (new_object("raw/sub/"), "does not end with '.csv'"),
    ],
)
def test_watch_rule_says_why_a_file_starts_no_run(obj, phrase):
    reason = RULE.why_not(obj)

    assert reason is not None
    assert phrase in reason


def test_watch_rule_skips_a_folder_marker():
    rule = WatchRule(bucket=BUCKET, prefix="raw/", suffix="")

    assert rule.why_not(new_object("raw/a.csv")) is None
    assert "folder marker" in rule.why_not(new_object("raw/sub/"))


# --- identity and seen_key ------------------------------------------------------------------------------------


def test_multipart_put_and_complete_notifications_are_one_file():
    # moto sends both for one multipart upload, with the same key and ETag.
    message_put = body(s3_record("raw%2Fmp.csv", etag=MULTIPART_ETAG, event_name="ObjectCreated:Put"))
    message_complete = body(
        s3_record("raw%2Fmp.csv", etag=MULTIPART_ETAG, event_name="ObjectCreated:CompleteMultipartUpload")
    )
    [put] = arrivals.parse_message(message_put)
    [complete] = arrivals.parse_message(message_complete)

    assert arrivals.identity(put) == arrivals.identity(complete)
    assert arrivals.seen_key(put) == arrivals.seen_key(complete)


def test_same_key_with_other_content_is_a_new_file():
    first = new_object("raw/a.csv", etag="9dd4e461268c8034f5c8564e155c67a6")
    second = new_object("raw/a.csv", etag="0cc175b9c0f1b6a831c399e269772661")

    assert arrivals.identity(first) != arrivals.identity(second)
    assert arrivals.seen_key(first) != arrivals.seen_key(second)


def test_identity_depends_on_bucket_and_key():
    base = new_object("raw/a.csv")

    assert arrivals.identity(base) != arrivals.identity(new_object("raw/b.csv"))
    assert arrivals.identity(base) != arrivals.identity(new_object("raw/a.csv", bucket="other-bucket"))
    # Not on when or how the notification was sent.
    assert arrivals.identity(base) == arrivals.identity(
        new_object("raw/a.csv", event_time="2026-12-01T00:00:00.000Z", event_name="ObjectCreated:Copy", size=9)
    )


def test_version_id_takes_precedence_over_the_etag():
    v1 = new_object("raw/a.csv", etag="9dd4e461268c8034f5c8564e155c67a6", version_id="v1")

    # Same version, whatever the ETag says: one file.
    assert arrivals.identity(v1) == arrivals.identity(new_object("raw/a.csv", etag="other", version_id="v1"))
    # A new version with byte-identical content: a new file.
    assert arrivals.identity(v1) != arrivals.identity(
        new_object("raw/a.csv", etag="9dd4e461268c8034f5c8564e155c67a6", version_id="v2")
    )


def test_seen_key_is_prefixed_and_stable():
    obj = new_object("raw/a.csv")

    assert arrivals.seen_key(obj) == f"seen:{arrivals.identity(obj)}"
    assert arrivals.seen_key(obj) == arrivals.seen_key(dict(obj))  # type: ignore[arg-type]
    assert re.fullmatch(r"seen:[0-9a-f]{32}", arrivals.seen_key(obj))


# --- objects_of_events ----------------------------------------------------------------------------------------


def test_objects_of_events_keeps_files_in_order_once_each():
    a, b, c = new_object("raw/a.csv"), new_object("raw/b.csv"), new_object("raw/c.csv", version_id="v7")
    b_again = new_object("raw/b.csv", event_name="ObjectCreated:CompleteMultipartUpload")
    extras = [
        extra_of(b),
        {},  # an event created by hand in the UI: no payload
        {"from_trigger": True},
        {"payload": "not a mapping"},
        {"payload": {"bucket": BUCKET}},  # no key
        {"payload": {"key": "raw/x.csv"}},  # no bucket
        extra_of(a),
        extra_of(b_again),
        extra_of(c),
        extra_of(a),
    ]

    assert arrivals.objects_of_events(extras) == [b, a, c]


def test_objects_of_events_fills_what_a_payload_lacks():
    assert arrivals.objects_of_events([{"payload": {"bucket": BUCKET, "key": "raw/a.csv"}}]) == [
        {"bucket": BUCKET, "key": "raw/a.csv", "etag": "", "size": 0, "event_name": "", "event_time": ""}
    ]


def test_objects_of_events_of_nothing():
    assert arrivals.objects_of_events([]) == []
    assert arrivals.objects_of_events([{}, {"payload": None}]) == []


# --- literal_key and file_run_id --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["raw/a.csv", "raw/a b+c.csv", "raw/2026-11-29/banking.csv"])
def test_literal_key_leaves_a_plain_key_alone(key):
    assert arrivals.literal_key(key) == key


@pytest.mark.parametrize(
    "key", ["raw/{{ ds }}/a.csv", "raw/{{a.csv", "raw/{% if x %}.csv", "raw/100%.csv", "raw/{#note.csv", "raw/}}.csv"]
)
def test_literal_key_renders_to_itself(key):
    assert render_key(arrivals.literal_key(key), ds="2026-11-29", run_id="manual__x") == key


@pytest.mark.parametrize(
    "key",
    [
        "raw/a.csv",
        "raw/a b+c%.csv",
        "raw/ünïcode/ファイル.csv",
        "raw/{{ ds }}/a.csv",
        "raw/x:y~z.csv",
        "raw/" + "k" * 1000 + ".csv",
        "raw/" + "/ é+" * 300 + ".csv",
    ],
)
def test_file_run_id_is_an_allowed_run_id(key):
    run_id = arrivals.file_run_id(new_object(key))

    assert AIRFLOW_RUN_ID_PATTERN.match(run_id), run_id
    assert len(run_id) <= MAX_RUN_ID
    assert run_id.startswith(arrivals.FILE_RUN_PREFIX)


def test_file_run_id_is_readable_and_stable():
    obj = new_object("raw/a.csv")

    assert arrivals.file_run_id(obj) == arrivals.file_run_id(dict(obj))  # type: ignore[arg-type]
    assert arrivals.file_run_id(obj) == f"file__raw_a.csv__{arrivals.identity(obj)[:12]}"


def test_file_run_id_differs_for_different_files():
    long_tail = "x" * 200 + ".csv"
    objects = [
        new_object("raw/a.csv"),
        new_object("raw/b.csv"),
        new_object("raw/a.csv", etag="0cc175b9c0f1b6a831c399e269772661"),
        new_object("raw/a.csv", version_id="v2"),
        new_object("raw/a b.csv"),  # the same safe spelling as the next one
        new_object("raw/a_b.csv"),
        new_object("raw/one/" + long_tail),  # the same last 120 characters as the next one
        new_object("raw/two/" + long_tail),
    ]

    run_ids = [arrivals.file_run_id(obj) for obj in objects]
    assert len(set(run_ids)) == len(run_ids)


# --- resolve -------------------------------------------------------------------------------------------------------


def resolve(
    run_type: str, run_id: str, extras: list[dict[str, Any]], bucket: str = BUCKET, claimed: dict | None = None
):
    return arrivals.resolve(
        bucket=bucket,
        default_key=lambda: "raw/banking.csv",
        run_type=run_type,
        run_id=run_id,
        extras=extras,
        claimed_by=(claimed or {}).get,
    )


def test_a_batch_of_file_events_trains_on_the_first_and_starts_runs_for_the_others():
    first, second, third = new_object("raw/a.csv"), new_object("raw/{{ b }}.csv"), new_object("raw/c d.csv")

    result = resolve(
        "asset_triggered",
        "asset_triggered__2026-11-29T21:55:18+00:00",
        [
            extra_of(first),
            extra_of(second),
            extra_of(third),
        ],
    )

    assert result["key"] == "raw/a.csv"
    assert result["started_by"] == StartedBy.FILE_EVENT == "file_event"
    assert [run["conf"] for run in result["other_runs"]] == [
        {"bucket": BUCKET, "input_key": arrivals.literal_key("raw/{{ b }}.csv")},
        {"bucket": BUCKET, "input_key": "raw/c d.csv"},
    ]
    assert [run["trigger_run_id"] for run in result["other_runs"]] == [
        arrivals.file_run_id(second),
        arrivals.file_run_id(third),
    ]
    for run in result["other_runs"]:
        assert run["trigger_run_id"].startswith("file__")
        assert AIRFLOW_RUN_ID_PATTERN.match(run["trigger_run_id"])
    # Each other run's input_key renders back to its file's key.
    assert [render_key(run["conf"]["input_key"]) for run in result["other_runs"]] == ["raw/{{ b }}.csv", "raw/c d.csv"]


def test_a_duplicate_event_in_a_batch_starts_no_second_run():
    a, b = new_object("raw/a.csv"), new_object("raw/b.csv")

    result = resolve("asset_triggered", "asset_triggered__x", [extra_of(a), extra_of(b), extra_of(b), extra_of(a)])

    assert result["key"] == "raw/a.csv"
    assert [run["conf"]["input_key"] for run in result["other_runs"]] == ["raw/b.csv"]


def test_a_single_file_event_starts_no_other_run():
    result = resolve("asset_triggered", "asset_triggered__x", [extra_of(new_object("raw/a.csv"))])

    assert result["key"] == "raw/a.csv" and result["started_by"] == "file_event" and result["other_runs"] == []
    assert result["claims"] == {arrivals.identity(new_object("raw/a.csv")): "asset_triggered__x"}


def test_a_scheduled_run_trains_on_the_default_key():
    result = resolve("scheduled", "scheduled__2026-11-29T00:00:00+00:00", [])

    assert result == {"key": "raw/banking.csv", "started_by": "schedule", "other_runs": [], "claims": {}}
    assert result["started_by"] == StartedBy.SCHEDULE


def test_a_manual_run_trains_on_the_default_key():
    result = resolve("manual", "manual__2026-11-29T05:34:00+00:00", [])

    assert result == {"key": "raw/banking.csv", "started_by": "manual", "other_runs": [], "claims": {}}


def test_a_backfill_counts_as_manual():
    assert resolve("backfill", "backfill__2026-11-29T00:00:00+00:00", [])["started_by"] == "manual"


def test_a_run_started_for_one_file_of_a_batch_is_a_file_event():
    run_id = arrivals.file_run_id(new_object("raw/b.csv"))

    result = resolve("manual", run_id, [])

    assert result == {"key": "raw/banking.csv", "started_by": "file_event", "other_runs": [], "claims": {}}


def test_an_asset_event_without_payload_trains_on_the_default_key():
    # An asset event created by hand (UI or API) has no file payload.
    result = resolve("asset_triggered", "asset_triggered__x", [{}, {"note": "by hand"}])

    assert result == {"key": "raw/banking.csv", "started_by": "file_event", "other_runs": [], "claims": {}}


def test_file_payloads_of_a_non_asset_run_are_ignored():
    result = resolve("manual", "manual__x", [extra_of(new_object("raw/a.csv"))])

    assert result == {"key": "raw/banking.csv", "started_by": "manual", "other_runs": [], "claims": {}}


def test_a_file_in_another_bucket_is_an_error():
    extras = [extra_of(new_object("raw/a.csv")), extra_of(new_object("raw/b.csv", bucket="someone-elses"))]

    with pytest.raises(ValueError, match="someone-elses") as error:
        resolve("asset_triggered", "asset_triggered__x", extras)

    assert "'bank-ml'" in str(error.value)
    assert "s3://someone-elses/raw/b.csv" in str(error.value)


# --- malformed messages and awkward keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        '{"Records": 5}',
        body(
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": BUCKET}, "object": {"key": "k", "size": "big"}},
            }
        ),
    ],
)
def test_parse_message_ignores_a_malformed_notification(message):
    # The watcher calls parse_message outside its AWS error handling: a raise here ends the trigger, and the
    # message, never deleted, is read again (and raises again) after every restart.
    assert arrivals.parse_message(message) == []


@pytest.mark.parametrize("key", ["raw/{% endraw %}x.csv", 'raw/{{ "q" }}\\n é.csv', "raw/{#x#}.csv"])
def test_literal_key_renders_a_key_holding_endraw_to_itself(key):
    assert render_key(arrivals.literal_key(key)) == key


def test_files_another_run_has_taken_are_left_to_it():
    a, b, c = new_object("raw/a.csv"), new_object("raw/b.csv"), new_object("raw/c.csv")
    claimed = {arrivals.identity(a): "asset_triggered__earlier"}

    result = resolve(
        "asset_triggered", "asset_triggered__now", [extra_of(a), extra_of(b), extra_of(c)], claimed=claimed
    )

    # b is the oldest file without a run: this run takes it, and starts one run for c.
    assert result["key"] == "raw/b.csv"
    assert [run["conf"]["input_key"] for run in result["other_runs"]] == ["raw/c.csv"]
    assert result["claims"] == {
        arrivals.identity(b): "asset_triggered__now",
        arrivals.identity(c): arrivals.file_run_id(c),
    }


def test_a_run_whose_files_all_have_runs_has_nothing_to_do():
    a = new_object("raw/a.csv")

    result = resolve("asset_triggered", "asset_triggered__x", [extra_of(a)], claimed={arrivals.identity(a): "r"})

    assert result == {"key": None, "started_by": "file_event", "other_runs": [], "claims": {}}


def test_the_default_key_is_rendered_only_when_used():
    def no_ds() -> str:
        raise ValueError("input_key uses an undefined variable: 'ds' is undefined")

    result = arrivals.resolve(
        bucket=BUCKET,
        default_key=no_ds,
        run_type="asset_triggered",
        run_id="asset_triggered__x",
        extras=[extra_of(new_object("raw/a.csv"))],
    )

    assert result["key"] == "raw/a.csv"
    with pytest.raises(ValueError, match="'ds' is undefined"):
        arrivals.resolve(bucket=BUCKET, default_key=no_ds, run_type="manual", run_id="manual__x", extras=[])
