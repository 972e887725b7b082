"""Shared fixtures of the end-to-end tests: one moto server, one migrated metadata database and, for the tests
that need a scheduler, one ``airflow standalone`` per test session (per pytest-xdist worker)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from devtools import airflow_api, celery_demo, local_aws
from tests.support import dag_runs


@pytest.fixture(scope="session")
def aws() -> Generator[local_aws.MotoProcess]:
    """moto's S3/SNS/SQS server on a free 127.0.0.1 port, with the default alert topic and its SQS inbox, and the
    default bucket with its file events.

    In a child process: the unit tests' in-process mock (``mock_aws``) resets every moto backend of the
    process it runs in, and unit tests may run in this process between two end-to-end tests (pytest-xdist).
    """
    with local_aws.MotoProcess() as server:
        server.topic_arn, server.queue_url = server.create_topic_with_queue()
        # The default bucket's file events, as `make airflow` sets them up: the training DAG's watcher reads
        # their queue from the start (test_arrivals.py is the only module that writes to this bucket).
        server.create_bucket()
        server.incoming_queue_url = server.watch_incoming()
        yield server


@pytest.fixture(scope="session")
def run_dag(aws) -> Generator[Callable[..., dag_runs.RunResult]]:
    """:func:`tests.support.dag_runs.run_dag` wired to the session's moto server, on a migrated database."""
    dag_runs.migrate()
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            env.delenv(name)  # no stray real credentials or endpoints: the connection says it all
        env.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(aws.connection()))
        yield dag_runs.run_dag


def _keep_log(log: Path, kept: Path) -> None:
    with contextlib.suppress(OSError):
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, kept)


@pytest.fixture(scope="session")
def airflow_server(aws) -> Generator[airflow_api.Api]:
    """``airflow standalone`` (LocalExecutor) on a free port with its own AIRFLOW_HOME, wired to the session's
    moto server, the training DAG unpaused without a catch-up run. Shared by every test that needs a real
    scheduler (tests/conftest.py puts their modules on one xdist worker, so it starts once); each module uses
    its own bucket and topic. Everything it wrote (database, logs, ``standalone.log``) is removed afterwards.

    Its metadata database is a throwaway PostgreSQL cluster, as in the Celery demo (Debian's postgresql is
    installed when missing, as root). Not SQLite: there Airflow refused or half-did a backfill while the
    scheduler wrote ("Database is locked"), and the scheduler then died on a run the failed request had rolled
    back.
    """
    root = Path(tempfile.mkdtemp(prefix="bank-ml-standalone-"))
    root.chmod(0o711)  # the postgres OS user must reach its directory inside
    home = root / "airflow"
    home.mkdir(mode=0o700)  # airflow.cfg holds generated secrets
    env = {
        # One core per fit: these tests run two DAG runs at a time on the machine's cores and are about
        # scheduling, not fitting speed. (The fits use threads, so no worker process outlives a task.)
        "BANK_ML_N_JOBS": "1",
        # The DAG files do not change during the tests: parse them at start, not every 30 s (CPU is scarce).
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        # The LocalExecutor forks this many workers up front (default 32); the tests run 2 runs at a time.
        "AIRFLOW__CORE__PARALLELISM": "8",
        # How often the scheduler applies approval timeouts (default 15 s): the timeout test waits 5 s.
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
        # How often the scheduler looks for tasks of a dead scheduler to reset (default 300 s): the restart test
        # waits for it. A task is reset once the dead scheduler's heartbeat is 30 s old (health check threshold).
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
    }
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        # The scheduler's and API server's log outlives the server, for a failure to be read afterwards.
        stack.callback(_keep_log, home / "standalone.log", local_aws.ROOT / "out" / "standalone-last.log")
        stack.callback(
            _keep_log, home / "scheduler-restarted.log", local_aws.ROOT / "out" / "scheduler-restarted-last.log"
        )
        celery_demo.ensure_packages()
        postgres = celery_demo.start_postgres(root / "postgres", stack)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = postgres.url("postgresql+psycopg2")
        api = stack.enter_context(airflow_api.standalone(aws.connection(), home, env))
        api.unpause_without_catchup_run()
        yield api
