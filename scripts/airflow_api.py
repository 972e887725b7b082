"""A small client of Airflow 3's REST API (``/api/v2``) and a context manager around ``airflow standalone``.

Shared by the end-to-end tests and ``make celery-demo``. No login: the servers it talks to run with
``SIMPLE_AUTH_MANAGER_ALL_ADMINS`` (local only).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import requests

from scripts import local_aws

TRAINING_DAG = "bank_marketing_training"


class Api:
    """The few REST calls the tests and demos need."""

    def __init__(self, base: str, dag_id: str = TRAINING_DAG) -> None:
        self.root = base
        self.base = f"{base}/api/v2"
        self.dag_id = dag_id

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` under ``/api/v2``; raises on an HTTP error."""
        response = requests.get(f"{self.base}{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def send(self, method: str, path: str, body: dict) -> Any:
        """``method`` (POST, PATCH) with a JSON body; asserts success, with the server's answer if not."""
        response = requests.request(method, f"{self.base}{path}", json=body, timeout=30)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def runs(self) -> list[dict]:
        """The DAG's runs (up to 100)."""
        return self.get(f"/dags/{self.dag_id}/dagRuns", limit=100)["dag_runs"]

    def trigger(self, conf: dict[str, Any]) -> str:
        """Trigger a manual run with ``conf``; returns its run id."""
        return self.send("POST", f"/dags/{self.dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]

    def task_instances(self, run_id: str) -> list[dict]:
        """Every task instance of ``run_id``, mapped ones included."""
        return self.get(f"/dags/{self.dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]

    def wait_until_up(self, process: subprocess.Popen | None, log: Path | None, timeout: float = 240) -> None:
        """Poll until the DAG is served, failing early if ``process`` exits (with the tail of ``log``)."""
        deadline = time.monotonic() + timeout
        while True:
            if process is not None and process.poll() is not None:
                tail = log.read_text()[-3000:] if log else ""
                raise AssertionError(f"airflow exited with {process.returncode}:\n{tail}")
            with contextlib.suppress(requests.RequestException):
                if self.get(f"/dags/{self.dag_id}")["dag_id"] == self.dag_id:
                    return
            assert time.monotonic() < deadline, f"Airflow's API at {self.root} did not come up in {timeout} s"
            time.sleep(2)

    def unpause_without_catchup_run(self) -> None:
        """Unpause the DAG and mark the scheduled run that unpausing creates as success, so it does not run."""
        self.send("PATCH", f"/dags/{self.dag_id}", {"is_paused": False})
        time.sleep(5)
        for run in self.runs():
            if run["run_type"] == "scheduled":
                self.send("PATCH", f"/dags/{self.dag_id}/dagRuns/{run['dag_run_id']}", {"state": "success"})

    def wait_for_runs(self, run_ids, timeout: float = 600) -> dict[str, dict]:
        """Wait until every run in ``run_ids`` is success or failed; returns them by id."""
        deadline = time.monotonic() + timeout
        runs: dict[str, dict] = {}
        while time.monotonic() < deadline:
            runs = {r["dag_run_id"]: r for r in self.runs() if r["dag_run_id"] in run_ids}
            if len(runs) == len(run_ids) and all(r["state"] in ("success", "failed") for r in runs.values()):
                return runs
            time.sleep(2)
        raise AssertionError(
            f"runs did not finish in {timeout} s: {[(r['dag_run_id'], r['state']) for r in runs.values()]}"
        )


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, read from ``/proc`` (Linux)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
            if int(pgrp) == pgid and state != "Z":
                members.append(int(stat.parent.name))
    return members


def stop_group(process: subprocess.Popen, timeout: float = 30, *, whole_group: bool = False) -> None:
    """SIGTERM ``process``'s whole process group (it was started with ``start_new_session``), then SIGKILL.

    With ``whole_group``, also wait for the group's other members, which may outlive the leader (a log server,
    a task's supervisor), and SIGKILL those still there after ``timeout``, so nothing is left behind.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if whole_group:
        deadline = time.monotonic() + timeout
        while (members := group_members(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if members:  # only then: an empty group's id may already belong to someone else
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def standalone(connection: dict[str, Any], home: Path, extra_env: dict[str, str] | None = None) -> Generator[Api]:
    """``airflow standalone`` on a free port with its own AIRFLOW_HOME; yields an :class:`Api` once the DAG is
    served. Everything it started is stopped on exit. ``api.home`` is the AIRFLOW_HOME (its log is there)."""
    port = local_aws.free_port()
    env = local_aws.standalone_env(connection, home, port)
    env.update(extra_env or {})
    log_path = home / "standalone.log"
    home.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(local_aws.sys.executable).parent / "airflow"), "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown stops every component
        )
        api = Api(f"http://127.0.0.1:{port}")
        api.home = home
        try:
            api.wait_until_up(process, log_path)
            yield api
        finally:
            stop_group(process)
