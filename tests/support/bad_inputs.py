"""The bad input files of the bank-marketing family and the reason each must be rejected with.

Shared by the unit-level check of every case (tests/unit/test_bad_inputs.py) and the end-to-end runs of a
few of them (tests/e2e/test_bad_inputs.py). Built from banking.csv's own header and first rows.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

from include.bank_marketing import config
from tests.support import data

DATA = data.banking_csv()
HEADER, BODY = DATA.split(b"\n", 1)
ROWS = DATA.split(b"\n")[1:200]  # 199 rows, 5 of them yes: just enough for 3-fold CV
RANDOM_BYTES = random.Random(0).randbytes(4096)
# A large file: banking.csv's rows twice (about 9 MB, 90,422 rows), valid up to a ragged last row, so that
# validation reads every line before it finds the problem. (The memory a large file takes is checked in
# tests/unit/test_validation.py; here it is the reason and the quarantine that count.)
LARGE_COPIES = 2
LARGE_LAST_LINE = 1 + LARGE_COPIES * BODY.count(b"\n") + 1


@functools.cache
def large_csv() -> bytes:
    """Built once, on first use, so that collecting the tests stays cheap."""
    return b"".join([HEADER, b"\n", BODY * LARGE_COPIES, b"1;2;3\n"])


def csv_of(rows: list[bytes], header: bytes = HEADER) -> bytes:
    """A CSV of ``header`` and ``rows``."""
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

# case: (body, or a function building it; the reason, which reason.json, the exception and the alerts carry)
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
    "large_ragged_tail": (large_csv, f"ragged rows: line {LARGE_LAST_LINE} has 3 fields, the header has 17"),
}


def body_of(case: str) -> bytes:
    """The bytes of bad input ``case``."""
    body = BAD_INPUTS[case][0]
    return body() if callable(body) else body
