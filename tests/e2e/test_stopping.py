"""Stopping what we start: `make airflow` and `make celery-demo` interrupted as a person or a process manager
would, and nothing they started is left running (issue 17; devtools/processes.py).

Each command runs in a session of its own, as in a terminal. Ctrl-C is SIGINT to its whole process group (what
the terminal sends); a process manager's stop is SIGTERM to the command (`make`) alone. Within 30 s of the signal
every process the command started (followed by tree and start time: tests/support/process_tree.py) must be gone.
`make airflow` interrupted with Ctrl-C is tested in test_make_airflow.py, after its loopback check.
"""

from __future__ import annotations

import time

import pytest

from devtools import airflow_api, celery_demo, local_aws
from tests.support import data
from tests.support.process_tree import Tree, start_make, stop_and_check

pytestmark = pytest.mark.e2e


def test_make_airflow_stopped_by_sigterm_leaves_nothing_running(tmp_path):
    port = local_aws.free_port()
    log = tmp_path / "make-airflow.log"
    process = start_make(["airflow", f"AIRFLOW_ARGS=--port {port} --airflow-home {tmp_path / 'home'}"], log)
    with Tree(process.pid) as tree:
        airflow_api.Api(f"http://127.0.0.1:{port}").wait_until_up(process, log)
        code = stop_and_check(process, tree, "sigterm", log)
    # make forwards SIGTERM to the recipe, which stops everything and exits with 143 (128 + SIGTERM).
    assert code != 0 and "Error 143" in log.read_text(), log.read_text()[-2000:]


@pytest.mark.skipif(celery_demo.missing_packages() and not celery_demo.can_install(), reason="no redis/postgresql")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_make_celery_demo_interrupted_leaves_nothing_running(tmp_path, how):
    sample = tmp_path / "sample.csv"
    sample.write_bytes(data.sample_csv())
    log = tmp_path / "make-celery-demo.log"
    process = start_make(["celery-demo", f"CELERY_DEMO_ARGS=--input {sample}"], log)
    with Tree(process.pid) as tree:
        deadline = time.monotonic() + 300
        while "workers ready; the API serves the DAG" not in log.read_text():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        code = stop_and_check(process, tree, how, log)
    text = log.read_text()
    assert code != 0 and "CELERY_DEMO FAILED interrupted" in text, text[-2000:]
    assert "Error 143" in text if how == "sigterm" else "Error 130" in text or code < 0, text[-2000:]


@pytest.mark.parametrize(
    ("target", "running"),
    [
        # make demo, once `airflow dags test` runs the DAG (moto in the command, the run in a child).
        ("demo", "running: airflow dags test"),
        # make bench, once its first bare pipeline run (a child process with its own moto server) has started.
        ("bench", "machine: "),
    ],
)
def test_make_demo_and_bench_stopped_by_ctrl_c_leave_nothing_running(tmp_path, target, running):
    log = tmp_path / f"make-{target}.log"
    args = {
        "demo": f"DEMO_ARGS=--airflow-home {tmp_path / 'home'} --out {tmp_path / 'out'}",
        "bench": "BENCH_ARGS=--repeats 1 --sizes 1 --skip-dag --skip-search",
    }[target]
    process = start_make([target, args], log)
    with Tree(process.pid) as tree:
        deadline = time.monotonic() + 300
        while running not in log.read_text():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(5)  # into the work: the DAG's first tasks, the bare run's child process
        code = stop_and_check(process, tree, "ctrl-c", log, at_least=1)
    assert code != 0, log.read_text()[-2000:]
