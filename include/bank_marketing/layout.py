"""Where things live in the bucket: the one place that names S3 keys.

Light on purpose (no pandas, no boto3): the DAG file imports it at parse time for its template macro.
"""

from __future__ import annotations

import re

import jinja2

# Airflow run ids look like ``manual__2026-11-28T05:34:00+00:00``; '+' is read as a space by some S3
# tools and URL decoders, so keys keep only a conservative character set.
_UNSAFE = re.compile(r"[^A-Za-z0-9._:=-]")

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def render_key(template: str, **variables: object) -> str:
    """Render a key template such as ``raw/{{ ds }}/banking.csv`` with the run's variables.

    A variable the template uses but the run does not have (e.g. ``ds`` of a run without a logical date)
    raises ``ValueError`` naming it, instead of silently producing an empty path segment.
    """
    # None means "this run has no such value" (e.g. ds without a logical date): leave it undefined.
    present = {name: value for name, value in variables.items() if value is not None}
    try:
        key = _JINJA.from_string(template).render(**present)
    except jinja2.UndefinedError as exc:
        raise ValueError(f"input_key {template!r} uses an undefined variable: {exc.message}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"input_key {template!r} is not a valid template: {exc.message}") from exc
    key = key.strip().lstrip("/")
    if not key:
        raise ValueError(f"input_key {template!r} renders to an empty key")
    return key


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key``."""
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key


def run_prefix(run_id: str) -> str:
    """Key prefix of one DAG run's artifacts: ``runs/{run_id}``, with unsafe characters replaced by ``_``."""
    return f"runs/{_UNSAFE.sub('_', run_id)}"


def run_key(run_id: str, name: str) -> str:
    """Key of artifact ``name`` of a run, e.g. ``runs/<run_id>/model.joblib``."""
    return f"{run_prefix(run_id)}/{name}"


def rejected_prefix(run_id: str) -> str:
    """Key prefix under which a rejected input is quarantined: ``rejected/{run_id}``."""
    return f"rejected/{_UNSAFE.sub('_', run_id)}"


# A run's artifacts, relative to its prefix (``RunContext.uri`` makes them URIs).
VALIDATED = "validated.parquet"  # the parsed, checked input rows
QUALITY = "quality.json"  # the input's data-quality profile (columns, duplicates, class balance)
DRIFT = "drift.json"
TRAIN = "data/train.parquet"
TEST = "data/test.parquet"
TEST_SCORES = "data/test_scores.parquet"  # the winning model's probabilities on the test rows
MODEL = "model.joblib"
MODEL_JSON = "model.json"  # written last by publish: its presence means the model beside it is complete
METRICS = "metrics.json"
NEW_CSV = "new.csv"
PROFILE = "profile.json"  # the training rows' drift reference
REPORT = "report.html"
CAMPAIGN = "campaign.json"  # the numbers behind the campaign charts (gains, profit, calibration, importance)


def candidate(family: str) -> str:
    """A family's best pipeline from its grid search: ``candidates/{family}.joblib``."""
    return f"candidates/{family}.joblib"


# The lab wrote its predictions here; the pipeline keeps the latest run's copy at the same place.
LATEST_PREDICTIONS_KEY = "new.csv"

# The model registry: the champion pointer and one history line per run.
CHAMPION_KEY = "models/champion.json"
# The scoring DAG writes its predictions beside the customers file, under this name.
PREDICTIONS_NAME = "predictions.csv"
# ... and the customers to call, best first, under this one.
CALL_LIST_NAME = "call_list.csv"


def history_key(run_id: str) -> str:
    """Key of a run's promotion decision: ``models/history/{run_id}.json`` (one per run, so re-runs replace it)."""
    return f"models/history/{_UNSAFE.sub('_', run_id)}.json"
