"""File events for the training DAG: the watched asset, its SQS watcher, and the schedule that uses them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable

from bank_marketing_common.aws import AWS_CONN_ID
from bank_marketing_triggers import S3ArrivalTrigger
from include.bank_marketing import arrivals, config
from include.bank_marketing.contracts import RunInput
from include.bank_marketing.layout import s3_uri

# Runs at midnight UTC. A trigger timetable: a scheduled run's logical date is the end of its data interval,
# whatever [scheduler] create_cron_data_intervals says, so the deadline alert counts from it.
DAILY = CronTriggerTimetable("@daily", timezone="UTC")


def incoming_asset() -> Asset | None:
    """The training files' folder as an asset, watched through the SQS queue that S3 notifies; None when
    ``BANK_ML_EVENTS_QUEUE`` is empty (no watcher: the DAG runs on its schedule only)."""
    if not config.EVENTS_QUEUE:
        return None
    return Asset(
        uri=s3_uri(config.EVENTS_BUCKET, config.EVENTS_PREFIX),
        name="bank_ml_incoming",
        watchers=[
            AssetWatcher(
                name="bank_ml_incoming_sqs",
                trigger=S3ArrivalTrigger(
                    queue=config.EVENTS_QUEUE,
                    bucket=config.EVENTS_BUCKET,
                    prefix=config.EVENTS_PREFIX,
                    suffix=config.EVENTS_SUFFIX,
                    aws_conn_id=AWS_CONN_ID,
                    wait_time_seconds=config.EVENTS_WAIT_SECONDS,
                ),
            )
        ],
    )


INCOMING_ASSET = incoming_asset()


def incoming_inlets() -> list[Asset]:
    """resolve_input's inlets: the watched asset (its recent events and its state store), if there is one."""
    return [INCOMING_ASSET] if INCOMING_ASSET is not None else []


def training_schedule() -> AssetOrTimeSchedule | CronTriggerTimetable:
    """Daily, or as soon as a new file arrives (whichever comes first); daily only without a watcher."""
    if INCOMING_ASSET is None:
        return DAILY
    return AssetOrTimeSchedule(timetable=DAILY, assets=[INCOMING_ASSET])


# How many of the watched asset's latest events a run started by events looks through for files without a run.
RECENT_EVENTS = 50


def _extras(events: Iterable[Any]) -> list[dict[str, Any]]:
    """Each event's ``extra``, oldest event first."""
    return [dict(e.extra or {}) for e in sorted(events, key=lambda e: e.timestamp)]


def resolve_run_input(context: Mapping[str, Any], default_key: Callable[[], str]) -> RunInput:
    """``arrivals.resolve`` for the running task: the run's type and id, for a run started by file events the
    watched asset's recent events and which of their files other runs have taken (the asset's state store),
    and the files this run takes recorded there before it returns."""
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", str(dag_run.run_type))  # a (str, Enum)
    extras: list[dict[str, Any]] = []
    store = None
    if run_type == "asset_triggered" and INCOMING_ASSET is not None:
        triggering = [e for events in context["triggering_asset_events"].values() for e in events]
        recent = context["inlet_events"][INCOMING_ASSET].ascending(False).limit(RECENT_EVENTS)
        extras = _extras([*recent, *triggering])
        store = context["asset_state_store"][INCOMING_ASSET]
    run_input = arrivals.resolve(
        bucket=context["params"]["bucket"],
        default_key=default_key,
        run_type=run_type,
        run_id=context["run_id"],
        extras=extras,
        claimed_by=(lambda file_identity: store.get(arrivals.claim_key(file_identity))) if store is not None else None,
    )
    for file_identity, run_id in run_input["claims"].items():
        assert store is not None
        store.set(arrivals.claim_key(file_identity), run_id)
    return run_input
