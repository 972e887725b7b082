"""A small client of Airflow 3's REST API (``/api/v2``) and a context manager around ``airflow standalone``.

Shared by the end-to-end tests and ``make celery-demo``. No login: the servers it talks to run with
``SIMPLE_AUTH_MANAGER_ALL_ADMINS`` (local only).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import requests

from devtools import local_aws, processes

TRAINING_DAG = "bank_marketing_training"
# Seconds a REST call may take: generous, as the API server shares the machine with the runs it serves.
REQUEST_TIMEOUT = 120


class Api:
    """The few REST calls the tests and demos need."""

    def __init__(self, base: str, dag_id: str = TRAINING_DAG) -> None:
        self.root = base
        self.base = f"{base}/api/v2"
        self.dag_id = dag_id

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` under ``/api/v2``; raises on an HTTP error."""
        response = requests.get(f"{self.base}{path}", params=params, timeout=REQUEST_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def send(self, method: str, path: str, body: dict, attempts: int = 1) -> Any:
        """``method`` (POST, PATCH) with a JSON body; asserts success, with the server's answer if not.
        ``attempts`` > 1 retries a server error (5xx) a second later: for idempotent requests only, such as
        setting a state, which SQLite can refuse while the scheduler writes ("Database error")."""
        for attempt in range(1, attempts + 1):
            response = requests.request(method, f"{self.base}{path}", json=body, timeout=REQUEST_TIMEOUT)
            if response.status_code < 500 or attempt == attempts:
                break
            time.sleep(1)
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

    def task_instance(self, run_id: str, task_id: str) -> dict:
        """The (unmapped) instance of ``task_id`` in ``run_id``."""
        [ti] = [t for t in self.task_instances(run_id) if t["task_id"] == task_id]
        return ti

    def wait_for_task(self, run_id: str, task_id: str, state: str, after_try: int = 0, timeout: float = 300) -> dict:
        """The instance of ``task_id`` once it is in ``state`` in a try later than ``after_try``; fails early
        when the run ends first."""
        deadline = time.monotonic() + timeout
        while True:
            ti = self.task_instance(run_id, task_id)
            if ti["state"] == state and ti["try_number"] > after_try:
                return ti
            run = self.get(f"/dags/{self.dag_id}/dagRuns/{quote(run_id)}")
            assert run["state"] not in ("success", "failed"), (
                f"{run_id} ended {run['state']}; {task_id} is {ti['state']}"
            )
            assert time.monotonic() < deadline, f"{run_id}: {task_id} not {state} in {timeout} s (it is {ti['state']})"
            time.sleep(1)

    def hitl_path(self, run_id: str, task_id: str) -> str:
        """REST path of the human-in-the-loop request of (unmapped) ``task_id`` in ``run_id``."""
        return f"/dags/{self.dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/-1/hitlDetails"

    def answer(self, run_id: str, task_id: str, option: str, comment: str) -> dict:
        """Answer the request of ``task_id`` with ``option`` and a comment, as the UI's buttons do."""
        body = {"chosen_options": [option], "params_input": {"comment": comment}}
        return self.send("PATCH", self.hitl_path(run_id, task_id), body)

    def answer_taken(self, run_id: str, task_id: str, asked_try: int, timeout: float = 120) -> bool:
        """After answering the human-in-the-loop request of ``task_id``'s try ``asked_try``: True once the task
        has succeeded with the answer, False if a later try asks again (Airflow 3.3.2 lost the answer: see
        RELIABILITY.md)."""
        deadline = time.monotonic() + timeout
        while (ti := self.task_instance(run_id, task_id))["state"] != "success":
            if ti["state"] == "awaiting_input" and ti["try_number"] > asked_try:
                print(f"\n{run_id}: the answer to try {asked_try} was lost; try {ti['try_number']} asks again")
                return False
            assert ti["state"] not in ("failed", "upstream_failed"), f"{run_id}: {task_id} {ti['state']}"
            assert time.monotonic() < deadline, f"{run_id}: {task_id} is {ti['state']} {timeout} s after the answer"
            time.sleep(1)
        return True

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

    def unpause_without_catchup_run(self, timeout: float = 60) -> None:
        """Unpause the DAG and mark the scheduled run that unpausing creates (the latest interval, as
        ``catchup=False`` wants) as success as soon as it appears, so it does not run. Waits up to ``timeout``
        seconds for it: on a busy machine the scheduler may take a while, and a run left going would race
        whatever the caller does next."""
        self.send("PATCH", f"/dags/{self.dag_id}", {"is_paused": False}, attempts=5)
        # An asset watcher starts when the DAG processor sees the DAG unpaused; the tests parse rarely.
        self.reparse()
        deadline = time.monotonic() + timeout
        while not (scheduled := [r for r in self.runs() if r["run_type"] == "scheduled"]):
            if time.monotonic() > deadline:
                return
            time.sleep(0.5)
        for run in scheduled:
            self.send("PATCH", f"/dags/{self.dag_id}/dagRuns/{run['dag_run_id']}", {"state": "success"}, attempts=5)
        # Until the tasks it had started are stopped: the caller's next request should find a quiet scheduler.
        while time.monotonic() < deadline and any(
            ti["state"] in ("queued", "running", "scheduled", "up_for_reschedule", "deferred")
            for run in scheduled
            for ti in self.task_instances(run["dag_run_id"])
        ):
            time.sleep(1)

    def reparse(self) -> None:
        """Ask the DAG processor to parse the DAG's file now (it does every min_file_process_interval anyway)."""
        token = self.get(f"/dags/{self.dag_id}/details")["file_token"]
        requests.put(f"{self.base}/parseDagFile/{token}", timeout=REQUEST_TIMEOUT).raise_for_status()

    def watched_assets(self) -> list[dict]:
        """The assets that schedule the DAG and have a watcher (the DAG processor registers a watcher only while
        the DAG is unpaused)."""
        return [a for a in self.get("/assets", dag_ids=self.dag_id, limit=100)["assets"] if a.get("watchers")]

    def scheduler_silent_for(self) -> float:
        """Seconds since the scheduler's last heartbeat (0 if it never beat yet or the API cannot tell)."""
        beat = self.get("/monitor/health").get("scheduler", {}).get("latest_scheduler_heartbeat")
        if not beat:
            return 0.0
        at = datetime.fromisoformat(beat)
        return (datetime.now(UTC) - (at if at.tzinfo else at.replace(tzinfo=UTC))).total_seconds()

    def wait_for_runs(self, run_ids, timeout: float = 600, silent_scheduler: float = 180) -> dict[str, dict]:
        """Wait until every run in ``run_ids`` is success or failed; returns them by id. Fails early when the
        scheduler has sent no heartbeat for ``silent_scheduler`` seconds: its runs would never finish."""
        deadline = time.monotonic() + timeout
        states: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            runs = {r["dag_run_id"]: r for r in self.runs() if r["dag_run_id"] in run_ids}
            if len(runs) == len(run_ids) and all(r["state"] in ("success", "failed") for r in runs.values()):
                return runs
            states = [(r["dag_run_id"], r["state"]) for r in runs.values()]
            silent = self.scheduler_silent_for()
            assert silent < silent_scheduler, f"the scheduler is gone (no heartbeat for {silent:.0f} s): {states}"
            time.sleep(2)
        raise AssertionError(f"runs did not finish in {timeout} s: {states}")


# Seconds airflow standalone gets to stop its components before what is left gets SIGTERM, and then SIGKILL.
STOP_GRACE = 30


def stop_standalone(process: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """Stop ``airflow standalone`` (started in a session of its own) as it stops itself on Ctrl-C: one SIGINT,
    on which it terminates each component and waits for it while still reading its output; whatever is left
    ``grace`` seconds later is stopped with its session (:func:`processes.stop_session`).

    Not SIGTERM, which kills it at once: its components then lost the pipe they log to. Nor a signal to every
    component as well (a terminal's Ctrl-C to the whole process group): given SIGINT and then airflow
    standalone's SIGTERM, the scheduler or the triggerer hung. Both ways they ran on until SIGKILL."""
    process.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    processes.stop_session(process, grace)


@contextlib.contextmanager
def standalone(connection: dict[str, Any], home: Path, extra_env: dict[str, str] | None = None) -> Generator[Api]:
    """``airflow standalone`` on a free port with its own AIRFLOW_HOME; yields an :class:`Api` once the DAG is
    served. Everything it started is stopped on exit, with any component started by :func:`restart_scheduler`.
    ``api.home`` is the AIRFLOW_HOME (its log is there)."""
    port = local_aws.free_port()
    env = local_aws.standalone_env(connection, home, port)
    env.update(extra_env or {})
    log_path = home / "standalone.log"
    home.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            # Its stop is SIGINT (stop_standalone), which a test run started in the background would ignore.
            processes.with_default_sigint([str(Path(local_aws.sys.executable).parent / "airflow"), "standalone"]),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown stops every component
        )
        api = Api(f"http://127.0.0.1:{port}")
        api.home = home
        api.standalone = process
        api.replacements = []
        try:
            api.wait_until_up(process, log_path)
            yield api
        finally:
            for replacement in api.replacements:
                processes.stop_session(replacement, STOP_GRACE)
            stop_standalone(process)


def restart_scheduler(api: Api, down_seconds: float = 5) -> subprocess.Popen:
    """SIGKILL the scheduler of the :func:`standalone` behind ``api`` with every process it started (its
    LocalExecutor workers with the tasks they run, its log server), as a container restart or systemd's
    ``KillMode=control-group`` does; wait ``down_seconds``; start a new ``airflow scheduler`` with the killed
    one's command line and environment; return it (stopped with the server). ``airflow standalone`` never
    restarts a component itself: it only relays their output.

    Not the scheduler alone: its forked workers inherit its database connection, so after a lone kill the
    connection stays open with the dead scheduler's transaction and row locks, and the new scheduler never
    queues another task (seen in CI on 2026-11-30; RELIABILITY.md)."""
    schedulers = [
        child
        for child in psutil.Process(api.standalone.pid).children()
        if child.cmdline()[-1:] == ["scheduler"] and child.is_running()
    ]
    if not schedulers and api.replacements:
        schedulers = [psutil.Process(api.replacements[-1].pid)]
    [scheduler] = schedulers
    command, env = scheduler.cmdline(), scheduler.environ()
    tree = [scheduler, *scheduler.children(recursive=True)]
    # Dead once a zombie: airflow standalone reaps the scheduler only when the pipe it reads from closes.
    processes.stop(lambda: processes.living(tree), grace=0)
    time.sleep(down_seconds)
    with (api.home / "scheduler-restarted.log").open("a") as log:
        replacement = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api.replacements.append(replacement)
    return replacement
