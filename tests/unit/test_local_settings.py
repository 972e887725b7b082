"""config/airflow_local_settings.py: the libraries it preloads for forked task processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = """
import sys, threading
import airflow_local_settings
print(json.dumps({"threads": threading.active_count(), "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    """What a fresh interpreter holds after importing the file: its threads and its modules."""
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + PROBE],
        env={"PYTHONPATH": str(ROOT / "config"), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_preloads_what_the_tasks_import_and_starts_no_thread(probe):
    # The libraries behind the tasks' import cost: reading (pandas, pyarrow), training and evaluating
    # (scikit-learn, joblib) and the report's charts (matplotlib).
    for module in ("pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.model_selection", "matplotlib.figure"):
        assert module in probe["modules"], module
    # A thread started before a fork would not exist in the forked task processes (and may hold a lock there).
    assert probe["threads"] == 1


def test_imports_no_airflow_and_no_project_code(probe):
    # It runs inside Airflow's own start-up: importing Airflow or the DAGs' code from here would be circular.
    modules = probe["modules"]
    assert not [m for m in modules if m.split(".")[0] in ("airflow", "include", "bank_marketing_common")]
