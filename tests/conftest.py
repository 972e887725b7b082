"""Test-wide settings: Airflow reads its configuration at import, so this runs before any test imports it."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every process the tests start is younger than this (tests/support/listeners.py tells them from the machine's).
SESSION_STARTED = time.time()

# A throwaway AIRFLOW_HOME (and so SQLite metadata database) per process, so tests never touch the developer's
# .airflow/ or ~/airflow. Always a new one: pytest-xdist's workers inherit the controller's environment, and
# two workers sharing one SQLite database would lock each other out.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
_home = tempfile.mkdtemp(prefix=f"bank-ml-airflow-{_worker}-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _home
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# One OpenMP thread per process (unless set otherwise). The test processes run side by side on few cores
# (pytest-xdist workers, joblib's workers, the Celery demo's workers), and histogram gradient boosting's OpenMP
# threads spin while they wait for each other: on oversubscribed cores a fit then takes many times longer.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Task processes give Airflow's Execution API 5 s per request by default; with the test topologies (the shared
# `airflow standalone`, the Celery demo) and their tasks sharing a few cores, the API server can take longer:
# Airflow's docs advise raising it under high load. Inherited by every Airflow process the tests start.
os.environ.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "60")
# Short retry delays (2 s, then 4 s) so that fault-injection runs retry within a test's patience. Read when
# include/bank_marketing/config.py is imported, so it must be set before anything imports it; the Airflow
# processes the tests start (the shared standalone's task processes, the Celery demo's) inherit it.
os.environ["BANK_ML_RETRY_DELAY_SECONDS"] = "2"

# --- pytest-xdist (`make test` runs -n 2 --dist loadscope) ---------------------------------------------------
# Each test module is a unit of work that runs whole on one worker (its module-scoped fixtures chain DAG runs),
# and the modules named together here form one unit: the two that need a scheduler share one worker and so
# one `airflow standalone` (a session fixture). xdist's own `--dist loadgroup` with xdist_group marks would
# say the same, but xdist 3.8.0 renames node ids in a way pytest 9.2 ignores, so the marks have no effect.
XDIST_GROUPS = {
    "tests/e2e/test_scheduler.py": "airflow_server",
    "tests/e2e/test_trigger_form.py": "airflow_server",
    "tests/e2e/test_approval.py": "airflow_server",
    "tests/e2e/test_arrivals.py": "airflow_server",
    # The DAG runs in this process (DAG.test) on one worker: the migrated SQLite database, the in-process
    # Execution API (about 10 s of CPU to build) and the parsed DAG modules are then paid for once, not twice.
    "tests/e2e/test_training_dag.py": "in_process",
    "tests/e2e/test_faults.py": "in_process",
    "tests/e2e/test_bad_inputs.py": "in_process",
}
# The longest units start first, side by side (much of their time is spent waiting on servers and
# schedulers); every other module follows in collection order as workers free up.
XDIST_FIRST = ("airflow_server", "in_process", "tests/e2e/test_celery_demo.py")


def xdist_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its module's group, or its module."""
    module = nodeid.split("::", 1)[0]
    return XDIST_GROUPS.get(module, module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadscope`` with :data:`XDIST_GROUPS` as the scopes, in collection order (see
    :func:`pytest_collection_modifyitems`) rather than largest first."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    config.option.loadscopereorder = False
    return UnitScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """On an xdist worker, :data:`XDIST_FIRST` first: the scheduler hands out units in collection order.
    Stable, so each module keeps its own order (its module fixtures rely on it)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {unit: index for index, unit in enumerate(XDIST_FIRST)}
        items.sort(key=lambda item: rank.get(xdist_unit(item.nodeid), len(rank)))


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running():
    """Fails the run if a process that a test or fixture started (moto, `airflow standalone`, the Celery
    topology, a command under test) is still alive when the session ends (its session fixtures torn down).

    This process becomes a child subreaper (devtools/processes.py), so a server that daemonized or whose parent
    died is still counted here rather than hidden under init. Defined first of the session fixtures, it is torn
    down last. Whatever is left is named, then stopped, so the next run starts clean.
    """
    from devtools import processes

    processes.become_subreaper()
    yield
    left = [(proc.pid, " ".join(proc.cmdline()[:4])) for proc in processes.descendants()]
    if left:
        processes.stop_descendants(grace=5, say=lambda message: None)
        pytest.fail(f"processes started by the tests were still running at the end of the session: {left}")
