"""The test data: banking.csv, and a fixed-seed stratified sample of it for runs that are not about model quality."""

from __future__ import annotations

import functools
import random

from devtools import local_aws

SAMPLE_ROWS = 4000
SAMPLE_SEED = 0
TEST_SHARE = 0.2  # the pipeline's stratified 80/20 split


@functools.cache
def banking_csv() -> bytes:
    """``include/data/banking.csv`` as bytes (45,211 rows, ``;``-separated, target ``y`` as yes/no)."""
    return local_aws.DATA_FILE.read_bytes()


@functools.cache
def sample_csv(rows: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED) -> bytes:
    """``rows`` data rows of banking.csv, drawn without replacement with a fixed seed and stratified on ``y``
    (each class keeps its share), in their original order, with the original header and bytes per line.

    Small enough that a one-family run trains in about a second, large enough that logistic regression still
    passes the lab's baselines, so such a run is promoted like a full one.
    """
    header, *lines = banking_csv().rstrip(b"\n").split(b"\n")
    by_class: dict[bytes, list[int]] = {}
    for index, line in enumerate(lines):
        by_class.setdefault(line.rsplit(b";", 1)[-1], []).append(index)
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(by_class):  # sorted: the draw does not depend on which class comes first in the file
        members = by_class[label]
        chosen += rng.sample(members, round(rows * len(members) / len(lines)))
    return b"\n".join([header, *(lines[i] for i in sorted(chosen))]) + b"\n"


def data_rows(csv: bytes) -> int:
    """Data rows of a CSV (lines after the header)."""
    return csv.rstrip(b"\n").count(b"\n")


def held_out_rows(rows: int) -> int:
    """Rows in the held-out split of ``rows`` (scikit-learn's train_test_split rounds the test share up)."""
    import math

    return math.ceil(rows * TEST_SHARE)
