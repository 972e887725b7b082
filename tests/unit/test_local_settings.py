"""config/airflow_local_settings.py: the libraries it preloads for forked task processes, and where."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SETTINGS = ROOT / "config" / "airflow_local_settings.py"
HEAVY = ("pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.model_selection", "matplotlib.figure")


# One interpreter for both cases (a start costs seconds): first imported as the API server, then re-imported as
# the scheduler, with the modules present after each.
PROBE = """
import importlib, json, sys, threading
sys.argv = ["airflow", "api-server"]
import airflow_local_settings
api_server = sorted(sys.modules)
sys.argv = ["airflow", "scheduler"]
importlib.reload(airflow_local_settings)
import inspect
mapped = set(inspect.modulesbyfile.values())  # inspect's file-to-module map, as a forked task inherits it
print(json.dumps({"api_server": api_server, "modules": sorted(sys.modules), "threads": threading.active_count(),
                  "mapped": sorted(mapped)}))
"""


@pytest.fixture(scope="module")
def scheduler() -> dict:
    """A fresh interpreter's modules after importing the file as the API server, then as the scheduler, and its
    thread count at the end."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": str(ROOT / "config"), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_the_scheduler_preloads_what_the_tasks_import_and_starts_no_thread(scheduler):
    # The libraries behind the tasks' import cost: reading (pandas, pyarrow), training and evaluating
    # (scikit-learn) and the report's charts (matplotlib).
    assert set(HEAVY) <= set(scheduler["modules"])
    # A thread started before a fork would not exist in the forked task processes (and may hold a lock there).
    assert scheduler["threads"] == 1


def test_the_scheduler_leaves_inspect_knowing_each_preloaded_module_file(scheduler):
    # A forked task's first inspect.stack() (the Amazon provider's hooks call it for their user agent) then
    # maps only the modules imported after the fork.
    assert set(HEAVY) <= set(scheduler["mapped"])


def test_imports_no_airflow_and_no_project_code(scheduler):
    # It runs inside Airflow's own start-up: importing Airflow or the DAGs' code from here would be circular.
    assert not [m for m in scheduler["modules"] if m.split(".")[0] in ("airflow", "include", "bank_marketing_common")]


@pytest.mark.parametrize(
    ("argv", "preloads"),
    [
        (["airflow", "scheduler"], True),
        (["airflow", "celery", "worker", "--concurrency", "1"], True),
        (["airflow", "api-server"], False),
        (["airflow", "dag-processor"], False),
        (["airflow", "triggerer"], False),
        (["airflow", "celery", "flower"], False),
        (["airflow", "db", "migrate"], False),
    ],
)
def test_only_the_processes_tasks_are_forked_from_preload(argv, preloads):
    # Loaded under another name, so this process's sys.modules holds no airflow_local_settings for the Airflow
    # of the in-process DAG runs (on the same xdist worker) to pick up.
    spec = importlib.util.spec_from_file_location("local_settings_under_test", SETTINGS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.forks_tasks(argv) is preloads


def test_the_api_server_starts_without_the_libraries(scheduler):
    assert not set(HEAVY) & set(scheduler["api_server"])
