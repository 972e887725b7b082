"""Bad input, end to end: each file fails at validate with its own reason, alerted and quarantined."""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable

import pytest

from include.bank_marketing import config, storage
from scripts import local_aws

pytestmark = pytest.mark.e2e

DATA = local_aws.DATA_FILE.read_bytes()
HEADER, BODY = DATA.split(b"\n", 1)
ROWS = DATA.split(b"\n")[1:200]  # 199 rows, 5 of them yes: just enough for 3-fold CV
RANDOM_BYTES = random.Random(0).randbytes(4096)
# Over 100 MB: banking.csv's rows repeated, valid up to a ragged last row, so validation reads every line.
BIG_COPIES = 100 * 2**20 // len(BODY) + 1
BIG_LAST_LINE = 1 + BIG_COPIES * BODY.count(b"\n") + 1


@functools.cache
def big_csv() -> bytes:
    """Built once, on first use, so that collecting this module stays cheap."""
    return b"".join([HEADER, b"\n", BODY * BIG_COPIES, b"1;2;3\n"])


def csv_of(rows: list[bytes], header: bytes = HEADER) -> bytes:
    return b"\n".join([header, *rows]) + b"\n"


def with_row(index: int, row: bytes) -> list[bytes]:
    """ROWS with data row ``index`` (0-based; file line ``index + 2``) replaced by ``row``."""
    return [row if i == index else r for i, r in enumerate(ROWS)]


def with_field(index: int, column: int, value: bytes) -> list[bytes]:
    """ROWS with field ``column`` (0-based) of data row ``index`` set to ``value``."""
    fields = ROWS[index].split(b";")
    fields[column] = value
    return with_row(index, b";".join(fields))


NON_UTF8 = csv_of(with_field(0, 1, b"m\xe9nagement"))  # latin-1 'management' with an accent, on line 2
NON_UTF8_OFFSET = NON_UTF8.index(b"\xe9")
NUL_OFFSET = RANDOM_BYTES.index(b"\x00")
WIDE_HEADER = b";".join([*(f"c{i}".encode() for i in range(1000)), b"y"])

# case: (body, or a function building it; the reason expected in reason.json, the alert and the task log)
BAD_INPUTS: dict[str, tuple[bytes | Callable[[], bytes], str]] = {
    "empty": (b"", "file is empty (0 bytes)"),
    "header_only": (HEADER + b"\n", "no data rows: the file has only a header"),
    "no_y": (
        HEADER.replace(b";y", b";subscribed") + b"\n" + b"\n".join(ROWS),
        "no target column 'y'",
    ),
    "one_class": (
        HEADER + b"\n" + b"\n".join(r for r in ROWS if r.endswith(b";no")),
        "one class only",
    ),
    "wrong_delimiter": (
        b"\n".join(line.replace(b";", b"|") for line in [HEADER, *ROWS]),
        "cannot detect the delimiter",
    ),
    "one_row": (csv_of(ROWS[:1]), "too few data rows: the file has 1 data row;"),
    "other_labels": (
        csv_of(with_field(9, 16, b"maybe")),
        "column 'y' must hold yes/no or 1/0; found 'maybe' on 1 rows, first at line 11",
    ),
    "ragged": (
        csv_of(with_row(49, ROWS[49].rsplit(b";", 1)[0])),
        "ragged rows: line 51 has 16 fields, the header has 17",
    ),
    "numeric_text": (
        csv_of(with_field(19, 5, b"n/a")),
        "column 'balance' is numeric but holds text on 1 of 199 rows: 'n/a' at line 21",
    ),
    "duplicate_columns": (
        csv_of(ROWS, header=HEADER.replace(b";balance;", b";age;")),
        "duplicate column name 'age' at positions 1 and 6",
    ),
    "non_utf8": (
        NON_UTF8,
        f"not UTF-8 text: byte 0xe9 at offset {NON_UTF8_OFFSET} (line 2) cannot be decoded",
    ),
    "random_bytes": (
        RANDOM_BYTES,
        f"binary data, not a CSV: NUL byte at offset {NUL_OFFSET}",
    ),
    "wide": (
        csv_of(ROWS, header=WIDE_HEADER),
        f"too many columns: the header has 1001 columns split on ';', the limit is {config.MAX_COLUMNS}",
    ),
    "over_100_mb": (big_csv, f"ragged rows: line {BIG_LAST_LINE} has 3 fields, the header has 17"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_at_validate_with_its_reason(aws, airflow_env, case):
    body, reason = BAD_INPUTS[case]
    body = body() if callable(body) else body
    bucket = f"bad-{case.replace('_', '-')}"
    aws.create_bucket(bucket)
    aws.upload(bucket, "banking.csv", body)
    aws.messages(aws.queue_url)

    result = local_aws.dags_test(airflow_env, {"bucket": bucket})
    out = result.stdout + result.stderr
    assert "state=failed" in out, out[-3000:]
    assert reason in out, f"the reason is not in the task log: {out[-3000:]}"

    s3 = aws.client("s3")
    keys = storage.list_keys(s3, bucket)
    assert not [k for k in keys if k.startswith("runs/")], "nothing may be written for a rejected input"
    rejected = [k for k in keys if k.startswith("rejected/")]
    reason_doc = json.loads(
        s3.get_object(Bucket=bucket, Key=next(k for k in rejected if k.endswith("reason.json")))["Body"].read()
    )
    assert reason in reason_doc["reason"]
    copy = next(k for k in rejected if k.endswith("/banking.csv"))
    assert s3.get_object(Bucket=bucket, Key=copy)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="banking.csv")["Body"].read() == body  # original untouched

    messages = aws.messages(aws.queue_url)
    task_alerts = [m for m in messages if m["subject"].startswith("[bank-ml] FAILED validate")]
    assert len(task_alerts) == 1, messages
    assert reason in task_alerts[0]["message"]
    assert any(m["subject"].startswith("[bank-ml] RUN FAILED") and "validate" in m["message"] for m in messages)
    # The sensor passed and validation failed: the training tasks never ran.
    assert "task_id=train" not in out
