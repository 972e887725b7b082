"""``make airflow`` (``python -m devtools.standalone``): while it runs, none of its servers (the API server and
UI, the scheduler, the DAG processor, the triggerer, moto) listens beyond 127.0.0.1, but Airflow's log servers."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from devtools import airflow_api, local_aws
from tests.support.listeners import exposed, listeners

pytestmark = pytest.mark.e2e


def test_make_airflow_listens_on_loopback_only(tmp_path):
    port = local_aws.free_port()
    since = time.time()
    log = tmp_path / "make-airflow.log"
    command = [sys.executable, "-m", "devtools.standalone", "--port", str(port), "--airflow-home", str(tmp_path / "h")]
    with log.open("w") as out:
        # What `make airflow` runs, in a session of its own so that everything it started is stopped after.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=local_aws.ROOT, start_new_session=True
        )
        try:
            airflow_api.Api(f"http://127.0.0.1:{port}").wait_until_up(process, log)
            found = listeners(since)
        finally:
            airflow_api.stop_group(process)

    assert port in {item.port for item in found}, found  # the check sees the UI's server
    assert any("moto" in item.command or "devtools.standalone" in item.command for item in found), found
    assert exposed(found) == []
