"""deadline: which late runs alert and which tasks they are stuck in; notification.late_run: the alert's text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.bank_marketing import deadline, notification

DAG_ID = "bank_marketing_training"
RUN_ID = "scheduled__2026-11-28T00:00:00+00:00"
DEADLINE = "2026-11-28T06:00:00Z"
DEADLINE_AT = datetime(2026, 11, 28, 6, tzinfo=UTC)


def dag_run(state: str = "running", queued_at: str | datetime | None = "2026-11-28T00:00:05Z", **changes) -> dict:
    """A DAG run as Airflow's REST API shows it (the fields the rules read)."""
    return {"dag_id": DAG_ID, "dag_run_id": RUN_ID, "state": state, "queued_at": queued_at, **changes}


# --- why_no_alert -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["running", "queued"])
def test_a_run_created_before_its_deadline_and_still_going_alerts(state):
    assert deadline.why_no_alert(dag_run(state), DEADLINE) is None


@pytest.mark.parametrize("state", ["success", "failed"])
def test_a_finished_run_does_not_alert(state):
    assert deadline.why_no_alert(dag_run(state), DEADLINE) == f"the run is {state}"


def test_a_finished_run_does_not_alert_even_if_created_after_its_deadline():
    assert deadline.why_no_alert(dag_run("success", "2026-12-01T00:00:00Z"), DEADLINE) == "the run is success"


def test_a_backfill_of_an_old_date_does_not_alert():
    # Created days after its data interval ended: it was never going to meet the deadline.
    why = deadline.why_no_alert(dag_run("queued", "2026-12-05T10:00:00Z"), DEADLINE)

    assert why == ("the run was created at 2026-12-05T10:00:00+00:00, after its deadline 2026-11-28T06:00:00+00:00")


def test_a_run_created_exactly_at_its_deadline_does_not_alert():
    assert deadline.why_no_alert(dag_run(queued_at=DEADLINE), DEADLINE) is not None


def test_datetimes_and_iso_strings_are_read_alike():
    before, after = datetime(2026, 11, 28, 0, 0, 5, tzinfo=UTC), datetime(2026, 11, 28, 7, tzinfo=UTC)

    assert deadline.why_no_alert(dag_run(queued_at=before), DEADLINE_AT) is None
    assert deadline.why_no_alert(dag_run(queued_at="2026-11-28T00:00:05+00:00"), DEADLINE_AT) is None
    assert deadline.why_no_alert(dag_run(queued_at=before), DEADLINE) is None
    assert "after its deadline" in deadline.why_no_alert(dag_run(queued_at=after), DEADLINE)
    assert "after its deadline" in deadline.why_no_alert(dag_run(queued_at="2026-11-28T07:00:00Z"), DEADLINE_AT)


def test_the_start_date_stands_in_for_a_missing_queued_at():
    late = dag_run(queued_at=None, start_date="2026-11-29T00:00:00Z")

    assert "created at 2026-11-29T00:00:00+00:00" in deadline.why_no_alert(late, DEADLINE)
    assert deadline.why_no_alert(dag_run(queued_at=None, start_date="2026-11-28T01:00:00Z"), DEADLINE) is None


def test_a_run_without_timestamps_alerts():
    assert deadline.why_no_alert(dag_run(queued_at=None), DEADLINE) is None


# --- stuck_tasks --------------------------------------------------------------------------------------------


def test_stuck_tasks_lists_only_active_task_instances_in_order():
    tis = [
        {"task_id": "validate", "state": "success", "map_index": -1},
        {"task_id": "train", "state": "running", "map_index": 0},
        {"task_id": "train", "state": "success", "map_index": 1},
        {"task_id": "train", "state": "up_for_retry", "map_index": 2},
        {"task_id": "evaluate", "state": None, "map_index": -1},
        {"task_id": "report", "state": "upstream_failed", "map_index": -1},
        {"task_id": "keep_champion", "state": "skipped", "map_index": -1},
        {"task_id": "approve", "state": "awaiting_input", "map_index": -1},
        {"task_id": "publish", "state": "queued"},  # no map_index at all
    ]

    assert deadline.stuck_tasks(tis) == [
        "train[0] (running)",
        "train[2] (up_for_retry)",
        "approve (awaiting_input)",
        "publish (queued)",
    ]


@pytest.mark.parametrize("state", deadline.ACTIVE_STATES)
def test_every_active_state_is_stuck(state):
    assert deadline.stuck_tasks([{"task_id": "t", "state": state, "map_index": -1}]) == [f"t ({state})"]


@pytest.mark.parametrize("state", ["success", "failed", "skipped", "upstream_failed", "removed", None])
def test_finished_or_unscheduled_states_are_not_stuck(state):
    assert deadline.stuck_tasks([{"task_id": "t", "state": state, "map_index": 3}]) == []


def test_a_map_index_of_none_or_zero():
    tis = [
        {"task_id": "a", "state": "running", "map_index": None},
        {"task_id": "b", "state": "running", "map_index": 0},
    ]

    assert deadline.stuck_tasks(tis) == ["a (running)", "b[0] (running)"]


def test_no_task_instances():
    assert deadline.stuck_tasks([]) == []


# --- notification.late_run ----------------------------------------------------------------------------------


def test_late_run_names_the_stuck_task_the_run_and_the_deadline():
    subject, body = notification.late_run(DAG_ID, RUN_ID, DEADLINE, ["train[0] (running)"])

    assert subject == f"[bank-ml] LATE {DAG_ID}: train[0] (running)"
    assert len(subject) <= notification.MAX_SUBJECT
    assert f"DAG run {RUN_ID} of {DAG_ID} had not finished by its deadline {DEADLINE}." in body
    assert "Stuck in: train[0] (running)." in body
    assert body.endswith("\n")


def test_late_run_subject_with_many_stuck_tasks_is_cut_to_100_characters():
    stuck = [f"train[{i}] (running)" for i in range(20)]

    subject, body = notification.late_run(DAG_ID, RUN_ID, DEADLINE, stuck)

    assert subject.startswith(f"[bank-ml] LATE {DAG_ID}: train[0] (running), train[1]")
    assert len(subject) == notification.MAX_SUBJECT
    assert "\n" not in subject
    assert "train[19] (running)" in body  # the body lists them all


def test_late_run_with_unknown_tasks_says_so_and_why():
    why = "could not read the run's tasks through the 'airflow_api' connection: 401 Unauthorized"

    subject, body = notification.late_run(DAG_ID, RUN_ID, DEADLINE, None, why)

    assert subject == f"[bank-ml] LATE {DAG_ID}: run not finished"
    assert f"Stuck in: unknown ({why})." in body
    assert RUN_ID in body and DEADLINE in body


def test_late_run_with_no_active_task():
    subject, body = notification.late_run(DAG_ID, RUN_ID, DEADLINE, [])

    assert subject.endswith(": run not finished")
    assert "Stuck in: unknown (no task is active)." in body


def test_the_queued_time_deadline_alerts_only_runs_without_a_logical_date():
    due = "2026-11-29T06:00:00+00:00"
    event_run = {"state": "running", "logical_date": None, "queued_at": "2026-11-29T00:00:05+00:00"}
    scheduled = {**event_run, "logical_date": "2026-11-29T00:00:00+00:00"}

    assert deadline.why_no_alert(event_run, due, deadline.QUEUED_AT) is None
    assert "logical-date deadline covers it" in deadline.why_no_alert(scheduled, due, deadline.QUEUED_AT)
    # The logical-date deadline is unchanged for a scheduled run.
    assert deadline.why_no_alert(scheduled, due, deadline.LOGICAL_DATE) is None
    assert deadline.why_no_alert(scheduled, due) is None
