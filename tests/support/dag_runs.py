"""End-to-end DAG runs in this process: ``DAG.test`` runs every task here and returns the DagRun.

The run is read back from the metadata database as task-instance states and try numbers, so tests assert what
happened (which task failed, which was retried, which branch was skipped) rather than grep log text. Needs
the session's AIRFLOW_HOME (set by tests/conftest.py before Airflow is imported), a migrated database
(:func:`migrate`) and ``AIRFLOW_CONN_AWS_DEFAULT`` pointing at the local S3/SNS server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TRAINING_DAG = "bank_marketing_training"
# In-process runs have nobody to answer an approval request (DAG.test would wait for it forever): they promote
# as approval=auto does, unless the conf says otherwise. The approval flow is tested under airflow standalone.
UNATTENDED = {"approval": "auto"}
DAGS_FOLDER = ROOT / "dags"


@dataclass(frozen=True)
class TaskRecord:
    """One task instance as the run left it."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    rendered_map_index: str | None


@dataclass(frozen=True)
class RunResult:
    """A finished DAG run: its id, final state and every task instance, keyed by ``(task_id, map_index)``."""

    dag_id: str
    run_id: str
    state: str
    tasks: dict[tuple[str, int], TaskRecord]

    def states(self) -> dict[tuple[str, int], str | None]:
        """``{(task_id, map_index): state}`` of every task instance."""
        return {key: record.state for key, record in self.tasks.items()}

    def of(self, task_id: str) -> list[TaskRecord]:
        """The instances of ``task_id`` (one, or one per mapped index), by map index."""
        return sorted((r for r in self.tasks.values() if r.task_id == task_id), key=lambda r: r.map_index)

    def state_of(self, task_id: str) -> str | None:
        """State of an unmapped task."""
        [record] = self.of(task_id)
        return record.state

    def tries(self, task_id: str) -> int:
        """Try number of an unmapped task: 1 if it ran once, 3 after two retries."""
        [record] = self.of(task_id)
        return record.try_number

    def ran(self, task_id: str) -> bool:
        """Whether any instance of ``task_id`` was run (a task skipped or failed upstream has try number 0; its
        start date is set all the same)."""
        return any(r.try_number > 0 for r in self.of(task_id))


def migrate() -> None:
    """Create the metadata database of this process's AIRFLOW_HOME (what ``airflow db migrate`` does)."""
    from airflow.utils import db

    db.upgradedb()


def load_dag(dag_id: str) -> Any:
    """The DAG as the DAG processor parses it from ``dags/``; fails on any import error.

    Parsed anew for every run, as each task process does in a deployment: a DAG object is not meant to serve
    two runs (a notifier renders its templates in place, so a second run would send the first run's alert).
    """
    from airflow.dag_processing.dagbag import BundleDagBag

    # The bundle-aware bag, as the DAG processor and the task runner use: it puts the DAG folder on sys.path,
    # where the DAGs' shared helpers (dags/bank_marketing_common/) are imported from.
    bag = BundleDagBag(dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="dags-folder")
    assert not bag.import_errors, f"DAG import errors: {bag.import_errors}"
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not found in {DAGS_FOLDER}"
    return dag


def _state(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def run_dag(dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | datetime | None = None) -> RunResult:
    """Run ``dag_id`` once with ``conf`` via ``DAG.test`` in this process; returns the run as it ended.

    ``logical_date`` (``YYYY-MM-DD`` or a datetime; default now) is what templates such as
    ``raw/{{ ds }}/banking.csv`` are rendered with. A training run defaults to ``approval=auto``
    (:data:`UNATTENDED`).
    """
    import pendulum
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if isinstance(logical_date, str):
        logical_date = pendulum.parse(logical_date, tz="UTC")
    dag = load_dag(dag_id)
    if dag_id == TRAINING_DAG:
        conf = {**UNATTENDED, **(conf or {})}
    # No scheduler here to watch a deadline, and Airflow 3.3.2's DAG.test fails a successful run of a DAG that
    # has one (see bank_marketing_common/deadline.py, which leaves it out under `airflow dags test` too).
    dag.deadline = None
    run = dag.test(run_conf=conf or {}, logical_date=logical_date or pendulum.now("UTC"))
    with create_session() as session:
        instances = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        tasks = {
            (ti.task_id, ti.map_index): TaskRecord(
                task_id=ti.task_id,
                map_index=ti.map_index,
                state=_state(ti.state),
                try_number=ti.try_number,
                rendered_map_index=ti.rendered_map_index,
            )
            for ti in instances
        }
    return RunResult(dag_id=dag_id, run_id=run.run_id, state=_state(run.state), tasks=tasks)


def task_states_of_date(dag_id: str, logical_date: datetime) -> dict[str, str | None]:
    """``{task_id[map_index]: state}`` of the run of ``dag_id`` at ``logical_date``, read while it may be running
    (from another thread than the one running it)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
            .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
            .where(TaskInstance.dag_id == dag_id, DagRun.logical_date == logical_date)
        ).all()
    return {f"{t}[{m}]" if m >= 0 else t: _state(s) for t, m, s in rows}
