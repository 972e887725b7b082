"""``make airflow`` (``python -m devtools.standalone``): while it runs, none of its servers (the API server and
UI, the scheduler, the DAG processor, the triggerer, moto) listens beyond 127.0.0.1, but Airflow's log servers;
then Ctrl-C stops it and everything it started (tests/e2e/test_stopping.py has the other stops)."""

from __future__ import annotations

import time

import pytest

from devtools import airflow_api, local_aws
from tests.support.listeners import exposed, listeners
from tests.support.process_tree import Tree, start_make, stop_and_check

pytestmark = pytest.mark.e2e


def test_make_airflow_listens_on_loopback_only_and_ctrl_c_leaves_nothing_running(tmp_path):
    port = local_aws.free_port()
    since = time.time()
    log = tmp_path / "make-airflow.log"
    process = start_make(["airflow", f"AIRFLOW_ARGS=--port {port} --airflow-home {tmp_path / 'home'}"], log)
    with Tree(process.pid) as tree:
        try:
            airflow_api.Api(f"http://127.0.0.1:{port}").wait_until_up(process, log)
            found = listeners(since)
        finally:
            code = stop_and_check(process, tree, "ctrl-c", log)

    assert port in {item.port for item in found}, found  # the check sees the UI's server
    assert any("moto" in item.command or "devtools.standalone" in item.command for item in found), found
    assert exposed(found) == []
    # Ctrl-C reached make and the recipe (130 = 128 + SIGINT): make reports the interrupt and fails.
    assert code != 0, log.read_text()[-2000:]
