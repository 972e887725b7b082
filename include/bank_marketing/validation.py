"""Validation of an incoming bank-marketing CSV: read once, check the contract, infer the features.

Accepts any file of the bank-marketing family, not only banking.csv's 16 columns: the delimiter (``;`` or
``,``) is detected from the header, the target ``y`` may be ``yes``/``no`` or ``1``/``0``, and feature
columns are classed as numeric or categorical from their values. Every rejection raises ``InputError``
with a one-line message naming the column or line, what was expected and what was found.

The raw bytes are held in memory once and never decoded into a second full copy: the UTF-8 check decodes
them chunk by chunk, and the row pass and pandas read them through ``io.BytesIO`` (which shares the buffer
of a ``bytes`` object instead of copying it). Checking a file costs little beyond its own size; only the
parsed frame of an accepted file comes on top.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import math
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from include.bank_marketing import config, layout, quality, registry, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import DuplicatePolicy, Duplicates, QualityReport, ValidatedInput
from include.bank_marketing.layout import rejected_prefix

DELIMITERS = (";", ",")
YES_NO = "yes/no"
TARGET_FORMATS = {
    YES_NO: {"yes": 1, "no": 0},
    "1/0": {"1": 1, "0": 0, "1.0": 1, "0.0": 0},
}
# Bytes decoded at a time by the UTF-8 check: each decoded chunk is dropped before the next is made.
_DECODE_CHUNK = 1 << 20
# S3's CopyObject copies at most 5 GiB; a larger rejected object is copied part by part (still server-side).
_COPY_OBJECT_MAX_BYTES = 5 * 1024**3


def output_labels(target_format: str) -> dict[int, str] | None:
    """How predicted 0/1 are written back for an input of ``target_format``: as yes/no, or None to keep 0/1."""
    return {0: "no", 1: "yes"} if target_format == YES_NO else None


class InputError(ValueError):
    """The input file breaks the contract; ``str(error)`` is a one-line reason fit for a log and an alert."""


@dataclass
class ParsedInput:
    """A parsed, checked input: ``frame`` holds ``row_id``, the features and ``y`` as 0/1."""

    frame: pd.DataFrame
    delimiter: str
    target_format: str
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)

    @property
    def class_counts(self) -> dict[str, int]:
        """Rows per class, keyed ``"0"`` and ``"1"``."""
        counts = self.frame[config.TARGET].value_counts()
        return {str(k): int(counts.get(k, 0)) for k in (0, 1)}


def min_rows_per_class(cv_folds: int, test_size: float = config.TEST_SIZE) -> int:
    """Fewest rows of each class that still leave ``cv_folds`` of them in the training split."""
    return math.ceil(cv_folds / (1 - test_size)) + 1


def _check_text(data: bytes) -> None:
    """Reject empty, binary and non-UTF-8 input, decoding chunk by chunk so no full copy of the text is made."""
    if not data:
        raise InputError("file is empty (0 bytes); expected a CSV with a header row and a 'y' column")
    nul = data.find(b"\x00", 0, 1 << 16)
    if nul >= 0:
        raise InputError(f"binary data, not a CSV: NUL byte at offset {nul}")
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), _DECODE_CHUNK):
        end = start + _DECODE_CHUNK
        pending = len(decoder.getstate()[0])  # bytes of a character split by the previous chunk boundary
        try:
            decoder.decode(view[start:end], final=end >= len(data))
        except UnicodeDecodeError as exc:
            offset = start - pending + exc.start
            line = data.count(b"\n", 0, offset) + 1
            raise InputError(
                f"not UTF-8 text: byte 0x{data[offset]:02x} at offset {offset} (line {line}) cannot be decoded"
            ) from None


def _header(data: bytes) -> str:
    """The first line of ``data`` (valid UTF-8 by now), without a BOM or line ending (``\n``, ``\r\n`` or ``\r``)."""
    end = len(data)
    for newline in (b"\n", b"\r"):
        found = data.find(newline, 0, end)
        if found >= 0:
            end = found
    return str(memoryview(data)[:end], "utf-8-sig")


def _text(data: bytes) -> io.TextIOWrapper:
    """``data`` as a text stream for the csv module, sharing the buffer of ``data`` rather than copying it."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


def detect_delimiter(header: str) -> str:
    """The delimiter of ``header``: whichever of ``;`` and ``,`` splits it into more columns."""
    counts = {d: len(next(csv.reader([header], delimiter=d))) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best] < 2:
        raise InputError(f"cannot detect the delimiter: the header {header[:80]!r} splits on neither ';' nor ','")
    return best


def _check_width(columns: list[str], delimiter: str) -> None:
    if len(columns) > config.MAX_COLUMNS:
        raise InputError(
            f"too many columns: the header has {len(columns)} columns split on {delimiter!r}, "
            f"the limit is {config.MAX_COLUMNS} (a transposed or pivoted export?)"
        )


def _check_header(columns: list[str], delimiter: str) -> None:
    blanks = [i + 1 for i, c in enumerate(columns) if not c]
    if blanks:
        raise InputError(f"header has an empty column name at position {blanks[0]} (delimiter {delimiter!r})")
    seen: dict[str, int] = {}
    for i, name in enumerate(columns, start=1):
        if name in seen:
            raise InputError(f"duplicate column name {name!r} at positions {seen[name]} and {i}")
        seen[name] = i
    if config.TARGET not in seen:
        shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
        raise InputError(
            f"no target column {config.TARGET!r}: the header has {len(columns)} columns "
            f"split on {delimiter!r} ({shown})"
        )
    if config.ROW_ID in seen:
        raise InputError(f"column name {config.ROW_ID!r} is reserved for the pipeline's row ids")


def _data_lines(data: bytes, delimiter: str, expected: int) -> array:
    """File line on which each data row starts, checking on the way that every row has ``expected`` fields.

    pandas pads short rows with NaN silently and skips blank lines, so this pass (streaming over the bytes,
    no copy of the text) both catches ragged rows and lets messages name the real line of a data row.
    """
    reader = csv.reader(_text(data), delimiter=delimiter)
    lines = array("L")
    previous_end = 0
    try:
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not row:
                continue  # blank line: skipped by pandas too
            if len(row) != expected:
                raise InputError(f"ragged rows: line {start} has {len(row)} fields, the header has {expected}")
            lines.append(start)
    except csv.Error as exc:  # e.g. a NUL past the first 64 KiB, or an unclosed quote running on
        raise InputError(f"CSV cannot be parsed: {exc} (line {previous_end + 1})") from None
    return lines[1:]  # the first row is the header


def _target(raw: pd.Series, lines: array) -> tuple[pd.Series, str]:
    values = raw.str.strip().str.lower()
    blank = values.isna() | (values == "")
    if blank.any():
        first = int(blank.to_numpy().nonzero()[0][0])
        raise InputError(f"column {config.TARGET!r} is blank on {int(blank.sum())} rows (first at line {lines[first]})")
    found = set(values.unique())
    for name, mapping in TARGET_FORMATS.items():
        if found <= mapping.keys():
            return values.map(mapping).astype("int8"), name
    allowed = {"yes", "no", "1", "0", "1.0", "0.0"}
    bad = ~values.isin(allowed)
    if bad.any():
        first = int(bad.to_numpy().nonzero()[0][0])
        examples = ", ".join(repr(v) for v in sorted(values[bad].unique())[:5])
        detail = f"found {examples} on {int(bad.sum())} rows, first at line {lines[first]}"
    else:
        detail = f"found both formats mixed: {', '.join(sorted(found))}"
    raise InputError(f"column {config.TARGET!r} must hold yes/no or 1/0; {detail}")


def _classify(frame: pd.DataFrame, features: list[str], lines: array) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for col in features:
        raw = frame[col]
        present = raw.notna()
        as_number = pd.to_numeric(raw, errors="coerce")
        text = present & as_number.isna()
        n_text, n_present = int(text.sum()), int(present.sum())
        if n_text == 0:
            numeric.append(col)
        elif n_text <= config.NUMERIC_TEXT_TOLERANCE * n_present:
            first = int(text.to_numpy().nonzero()[0][0])
            raise InputError(
                f"column {col!r} is numeric but holds text on {n_text} of {n_present} rows: "
                f"{raw.iloc[first]!r} at line {lines[first]}"
            )
        else:
            categorical.append(col)
    return numeric, categorical


def _check_class_minimum(counts: pd.Series, cv_folds: int, after: str = "") -> None:
    """``InputError`` unless each class (a 0/1 index of ``counts``) has enough rows for the split and the CV."""
    needed = min_rows_per_class(cv_folds)
    rare = int(counts.idxmin())
    if counts[rare] < needed:
        label = {1: "yes/1", 0: "no/0"}[rare]
        raise InputError(
            f"column {config.TARGET!r} has only {int(counts[rare])} rows of class {label}{after}; "
            f"at least {needed} per class are needed for an 80/20 split with {cv_folds}-fold CV"
        )


def parse_csv(data: bytes, cv_folds: int = config.DEFAULT_CV_FOLDS) -> ParsedInput:
    """Parse and check the raw bytes of an input file; raise ``InputError`` naming the first problem found.

    ``data`` is never copied whole: peak memory beyond it is the parsed frame, or, for a file rejected before
    pandas runs, 8 bytes per line (the line numbers) and a few read buffers.
    """
    _check_text(data)
    header = _header(data)
    if not header.strip():
        raise InputError("the first line is blank; expected a header row")
    try:
        delimiter = detect_delimiter(header)
        columns = [c.strip() for c in next(csv.reader([header], delimiter=delimiter))]
    except csv.Error as exc:
        raise InputError(f"the header cannot be parsed: {exc}") from None
    _check_width(columns, delimiter)
    _check_header(columns, delimiter)
    lines = _data_lines(data, delimiter, len(columns))

    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            encoding="utf-8-sig",
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
        )
    except pd.errors.ParserError as exc:
        raise InputError(f"CSV cannot be parsed: {str(exc).strip().splitlines()[-1]}") from None
    frame.columns = columns
    if frame.empty:
        raise InputError(f"no data rows: the file has only a header ({len(columns)} columns)")
    needed = min_rows_per_class(cv_folds)
    if len(frame) < needed:
        rows = f"{len(frame)} data row" + ("s" if len(frame) > 1 else "")
        raise InputError(
            f"too few data rows: the file has {rows}; at least {2 * needed} are needed "
            f"({needed} of each class for an 80/20 split with {cv_folds}-fold CV)"
        )

    target, target_format = _target(frame[config.TARGET], lines)
    counts = target.value_counts()
    labels = {1: "yes/1", 0: "no/0"}
    for cls in (0, 1):
        if cls not in counts:
            other = labels[1 - cls]
            raise InputError(
                f"column {config.TARGET!r} has one class only: all {len(frame)} rows are {other}; "
                "both classes are needed to train a classifier"
            )
    _check_class_minimum(counts, cv_folds)

    features = [c for c in columns if c != config.TARGET]
    numeric, categorical = _classify(frame, features, lines)
    # Built in one go: adding columns one by one fragments the frame of a wide file.
    out = pd.DataFrame(
        {
            config.ROW_ID: range(1, len(frame) + 1),
            **{c: pd.to_numeric(frame[c]) if c in numeric else frame[c].str.strip() for c in features},
            config.TARGET: target.to_numpy(),
        }
    )
    return ParsedInput(out, delimiter, target_format, numeric, categorical)


def quarantine(run: RunContext, key: str, reason: str, sha256: str | None, size: int) -> str:
    """Copy a rejected input to ``rejected/{run_id}/`` with a ``reason.json``; the original is not touched.

    The copy is server-side: the object's bytes never pass through the worker. ``sha256`` is None for an
    object rejected unread (too large to download).
    """
    prefix = rejected_prefix(run.run_id)
    target_key = f"{prefix}/{key.rsplit('/', 1)[-1]}"
    if size > _COPY_OBJECT_MAX_BYTES:
        # boto3's managed copy: UploadPartCopy in parts, as CopyObject refuses sources over 5 GiB.
        run.s3.copy({"Bucket": run.bucket, "Key": key}, run.bucket, target_key)
    else:
        storage.copy_object(run.s3, run.bucket_uri(key), run.bucket_uri(target_key))
    return storage.write_json(
        run.s3,
        run.bucket_uri(f"{prefix}/reason.json"),
        {
            "input_uri": run.bucket_uri(key),
            "reason": reason,
            "sha256": sha256,
            "bytes": size,
            "run_id": run.run_id,
            "rejected_at": datetime.now(UTC).isoformat(),
        },
    )


def validate_object(run: RunContext, key: str, cv_folds: int, duplicates: str = config.DUPLICATES) -> ValidatedInput:
    """Read ``s3://{bucket}/{key}`` once, validate it and store the parsed rows as Parquet for the next stages,
    with its data-quality profile as ``quality.json``.

    Repeated rows (identical in every column) are dropped, the first of each kept, or, with ``duplicates`` =
    ``fail``, reject the file. Returns a small summary for XCom. On bad input the object is quarantined and
    ``InputError`` is raised. An object over ``config.MAX_INPUT_BYTES`` is rejected from its size alone,
    without being downloaded.
    """
    uri = run.bucket_uri(key)
    size = int(run.s3.head_object(Bucket=run.bucket, Key=key)["ContentLength"])
    if size > config.MAX_INPUT_BYTES:
        reason = (
            f"{uri}: file too large: {size:,} bytes, over the limit of {config.MAX_INPUT_BYTES:,} bytes "
            "(MAX_INPUT_BYTES); not downloaded"
        )
        quarantine(run, key, reason, None, size)
        raise InputError(reason)
    data = storage.read_bytes(run.s3, uri)
    sha256, size = storage.sha256_hex(data), len(data)
    try:
        parsed = parse_csv(data, cv_folds=cv_folds)
        del data
        frame, found = _without_duplicates(parsed, cv_folds, DuplicatePolicy(duplicates))
    except InputError as exc:
        reason = f"{uri}: {exc}"
        quarantine(run, key, reason, sha256, size)
        raise InputError(reason) from None
    used = ParsedInput(frame, parsed.delimiter, parsed.target_format, parsed.numeric, parsed.categorical)
    report = _quality_report(run, uri, used, len(parsed.frame), found)
    return {
        "input_uri": uri,
        "input_sha256": sha256,
        "input_bytes": size,
        "rows": len(frame),
        "duplicates": found,
        "quality_uri": storage.write_json(run.s3, run.uri(layout.QUALITY), report),
        "delimiter": parsed.delimiter,
        "target_format": parsed.target_format,
        "class_counts": used.class_counts,
        "numeric": parsed.numeric,
        "categorical": parsed.categorical,
        "validated_uri": storage.write_parquet(run.s3, run.uri(layout.VALIDATED), frame),
    }


def _without_duplicates(parsed: ParsedInput, cv_folds: int, policy: DuplicatePolicy) -> tuple[pd.DataFrame, Duplicates]:
    """The rows to train on and the duplicate counts: under ``drop`` the first of each set of identical rows,
    under ``fail`` ``InputError`` if any row repeats an earlier one."""
    features = parsed.numeric + parsed.categorical
    repeats = quality.find_repeats(parsed.frame, features)
    exact, conflicting = repeats.counts()
    found: Duplicates = {
        "policy": policy.value,
        "exact_rows": exact,
        "conflicting_rows": conflicting,
        "dropped_rows": 0,
    }
    if not exact:
        return parsed.frame, found
    if policy is DuplicatePolicy.FAIL:
        raise InputError(
            f"{exact:,} repeated rows: each identical to an earlier row in every column, {config.TARGET!r} "
            f"included ({len(parsed.frame):,} rows read; duplicates={policy.value})"
        )
    frame = repeats.dropped_from(parsed.frame)
    _check_class_minimum(frame[config.TARGET].value_counts().reindex([0, 1], fill_value=0), cv_folds,
                         f" once {exact:,} repeated rows are dropped")  # fmt: skip
    return frame, {**found, "dropped_rows": exact}


def _quality_report(run: RunContext, uri: str, used: ParsedInput, rows_read: int, found: Duplicates) -> QualityReport:
    """``quality.json`` of the rows used: per column, the duplicates, and the class balance against the
    champion's training file (its own ``quality.json``; None for a champion trained before it existed)."""
    columns = quality.column_quality(used.frame, used.numeric, used.categorical)
    champion, _ = registry.read_champion(run.s3, run.bucket)
    champion_rate = None
    if champion is not None:
        with contextlib.suppress(run.s3.exceptions.NoSuchKey):
            theirs = storage.read_json(run.s3, run.bucket_uri(layout.run_key(champion["run_id"], layout.QUALITY)))
            champion_rate = theirs["class_balance"]["positive_rate"]
    return {
        "input_uri": uri,
        "rows_read": rows_read,
        "rows_used": len(used.frame),
        "duplicates": found,
        "columns": columns,
        "constant_columns": [c["column"] for c in columns if c["constant"]],
        "out_of_bounds_columns": [c["column"] for c in columns if c["out_of_bounds"]],
        "class_balance": {
            "positive_rate": round(float(used.frame[config.TARGET].mean()), 4),
            "champion_positive_rate": champion_rate,
            "champion_run_id": champion["run_id"] if champion else None,
        },
    }
