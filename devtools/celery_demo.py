"""``make celery-demo``: the production topology (CeleryExecutor, PostgreSQL, Redis, two workers) without Docker.

Starts, all private to this run and on free 127.0.0.1 ports: a PostgreSQL cluster (Airflow's metadata database
and Celery's result backend), a Redis server (Celery's broker), the local S3/SNS server (moto), and Airflow's
API server, scheduler, DAG processor, triggerer and two Celery workers. Triggers bank_marketing_training
through the REST API, waits for it, prints which worker ran which task, checks the run's artifacts in S3 and
its SNS message, stops everything it started and prints one last line:

    CELERY_DEMO OK run=<run_id> workers=<host1>,<host2> train_by_worker=<family>:<host>,... wall_s=<s>

or ``CELERY_DEMO FAILED <reason>`` (exit code 1). With ``--kill-worker FAMILY`` the worker that runs
``train[FAMILY]`` is killed with SIGKILL, whole (as a lost machine or container), once the task has started and
before its candidate is written; the run must still succeed, the task retried on the other worker, and the line
ends ``killed=<host>:<family> retried_on=<host> tries=<n>``. Debian's ``redis-server`` and ``postgresql`` are installed
with apt-get when missing (root only). The system's own PostgreSQL and Redis, if any, are left alone.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devtools import airflow_api, local_aws
from devtools.processes import exit_code, ignore_stops, owning, stop_session
from include.bank_marketing import layout
from include.bank_marketing.layout import run_prefix

WORKERS = ("worker1@bank-ml", "worker2@bank-ml")
# approval=auto: the demo runs unattended (the approval flow has its own tests under airflow standalone).
CONF = {
    "model_families": ["logistic_regression", "random_forest", "hist_gradient_boosting"],
    "cv_folds": 3,
    "approval": "auto",
}
HOSTNAME_VARIABLE = "BANK_ML_WORKER_HOSTNAME"
# With --kill-worker: how soon a lost worker's task is given up and retried. Airflow's default heartbeat timeout
# is 300 s (README "Scale" says what a deployment should set); the task's retry waits RETRY_DELAY seconds.
LOST_WORKER_SETTINGS = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "BANK_ML_RETRY_DELAY_SECONDS": "5",
}


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` on the demo's workers: the worker's Celery name.

    Both workers run on this one machine, so the default (the machine's FQDN) would record the same hostname
    on every task instance; in the docker-compose topology each worker container has a name of its own.
    """
    return os.environ[HOSTNAME_VARIABLE]


# --- Debian packages ------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """Directory of PostgreSQL's server binaries (initdb, pg_ctl): Debian's newest, else from PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def missing_packages() -> list[str]:
    """The Debian packages (redis-server, postgresql) whose binaries this machine lacks."""
    found = {"redis-server": shutil.which("redis-server"), "postgresql": postgres_bindir()}
    return [package for package, binary in found.items() if not binary]


def can_install() -> bool:
    """Whether :func:`ensure_packages` can install what is missing (root with apt-get)."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def ensure_packages() -> None:
    """apt-get install Debian's redis-server and postgresql if their binaries are missing."""
    missing = missing_packages()
    if not missing:
        return
    if not can_install():
        raise RuntimeError(
            f"celery-demo needs the Debian packages {' '.join(missing)}: "
            f"run `sudo apt-get install -y {' '.join(missing)}` first (or run as root)"
        )
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env)


def missing_python_modules() -> list[str]:
    """Python modules the topology needs beyond the Celery provider: Airflow 3 opens an asynchronous engine on
    its metadata database too, which for PostgreSQL means asyncpg (besides psycopg2 for the synchronous one)."""
    return [name for name in ("asyncpg", "psycopg2", "redis") if importlib.util.find_spec(name) is None]


# --- PostgreSQL and Redis -------------------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in ``root``: TCP on ``127.0.0.1:port``, its unix socket in ``root``.

    The server refuses to run as root, so as root it runs as the ``postgres`` OS user (created by Debian's
    package); otherwise as the current user. Local socket connections are trusted (the socket sits in this
    private directory); TCP needs the password. fsync is off: the data is thrown away afterwards.
    """

    def __init__(self, root: Path, password: str) -> None:
        self.root, self.data, self.log = root, root / "data", root / "postgres.log"
        self.port, self.password = local_aws.free_port(), password
        self.bindir = postgres_bindir()
        self.as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # cwd: the server user may not be allowed into the caller's working directory.
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}\n{tail(self.log)}")

    def start(self) -> None:
        """initdb, start the server and create the ``airflow`` role and database."""
        self.root.mkdir(mode=0o700)
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-instructions",
                  "--auth-local=trust", "--auth-host=scram-sha-256")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
            "-c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        import psycopg2

        with contextlib.closing(
            psycopg2.connect(host=str(self.root), port=self.port, user="postgres", dbname="postgres")
        ) as conn:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute("CREATE ROLE airflow LOGIN PASSWORD %s", (self.password,))
                cur.execute("CREATE DATABASE airflow OWNER airflow")

    def stop(self) -> None:
        """Fast shutdown (disconnects clients); nothing to do if the cluster never started."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def url(self, scheme: str) -> str:
        """SQLAlchemy URL of the ``airflow`` database with ``scheme`` (e.g. ``postgresql+psycopg2``)."""
        return f"{scheme}://airflow:{self.password}@127.0.0.1:{self.port}/airflow"


def start_postgres(root: Path, stack: contextlib.ExitStack) -> PrivatePostgres:
    """A started :class:`PrivatePostgres` in ``root`` with a random password, stopped with ``stack``."""
    postgres = PrivatePostgres(root, password=secrets.token_hex(16))
    stack.callback(postgres.stop)
    postgres.start()
    return postgres


def start_redis(root: Path, log: Path, stack: contextlib.ExitStack) -> int:
    """redis-server on a free 127.0.0.1 port, in memory only, stopped with ``stack``; returns its port once it
    answers PING."""
    import redis

    root.mkdir()
    port = local_aws.free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(root),
               "--save", "", "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
    process = spawn(command, os.environ.copy(), log)
    stack.callback(stop_session, process, STOP_GRACE)
    client = redis.Redis(host="127.0.0.1", port=port)
    wait_for(lambda: _answers(client.ping), 30, "redis-server", [(process, log)])
    return port


def _answers(call: Callable[[], object]) -> bool:
    try:
        return bool(call())
    except Exception:
        return False


# --- processes ------------------------------------------------------------------------------------------


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``command`` in a session of its own (so stopping it stops its children), output to ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of ``path``, under a header."""
    text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no such file)"]
    return f"----- {path} (last {len(text)} lines)\n" + "\n".join(text)


def check_alive(processes: list[tuple[subprocess.Popen, Path]]) -> None:
    """Raise, naming the log, if any of ``processes`` has exited."""
    for process, log in processes:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(process.args[:3])} exited with {process.returncode} (log: {log})")


def wait_for(condition: Callable[[], bool], timeout: float, what: str, processes: list) -> None:
    """Poll ``condition`` every second until true; fail if ``timeout`` passes or a process exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        check_alive(processes)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(1)


# --- the demo -------------------------------------------------------------------------------------------


def airflow_environment(aws: local_aws.LocalAws, home: Path, postgres: PrivatePostgres, redis_port: int) -> dict:
    """The environment every Airflow component shares: the docker-compose topology's settings, locally
    (:data:`LOST_WORKER_SETTINGS` are added by ``run_demo`` when a worker is to be killed)."""
    api_port = local_aws.free_port()  # never 8080/8793/8794: a free ephemeral port
    env = local_aws.standalone_env(aws.connection(), home, api_port)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url("postgresql+psycopg2"),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            # The driver named: SQLAlchemy 2.1's default for plain postgresql:// is psycopg 3, not installed.
            "AIRFLOW__CELERY__RESULT_BACKEND": postgres.url("db+postgresql+psycopg2"),
            # One task at a time per worker (and no prefetching, Airflow's default), so the three mapped
            # training tasks queued together must spread over both workers.
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            # The API server signs the workers' Execution API tokens: all components must share the secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # Log servers: the triggerer's and each worker's on a free port, clear of another Airflow's 8793/8794.
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(local_aws.free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(local_aws.free_port()),
        }
    )
    return env


def worker_env(env: dict[str, str], hostname: str) -> dict[str, str]:
    """A worker's environment: its own log-server port and the hostname it records on task instances."""
    return {
        **env,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(local_aws.free_port()),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devtools.celery_demo.worker_hostname",
        HOSTNAME_VARIABLE: hostname,
        # The machine's share of cores per worker, as a container's CPU limit would give it. Two
        # histogram-gradient-boosting fits with one OpenMP thread per core each, side by side on 2 cores, spin
        # against each other: 190 s instead of 7.5 s per grid search, measured here.
        **dict.fromkeys(("OMP_NUM_THREADS", "BANK_ML_N_JOBS"), str(local_aws.cores_per_task(len(WORKERS)))),
    }


def wait_for_run(api: airflow_api.Api, run_id: str, timeout: float, processes: list) -> str:
    """Wait until ``run_id`` finishes; returns its state. A scheduled run that appears meanwhile (unpausing
    creates one for the latest interval, sometimes later than ``unpause_without_catchup_run`` looks) is marked
    success so it takes no worker."""
    deadline = time.monotonic() + timeout
    while True:
        check_alive(processes)
        for run in api.runs():
            if run["run_type"] == "scheduled" and run["state"] in ("queued", "running"):
                api.send("PATCH", f"/dags/{api.dag_id}/dagRuns/{run['dag_run_id']}", {"state": "success"})
        state = api.get(f"/dags/{api.dag_id}/dagRuns/{run_id}")["state"]
        if state in ("success", "failed"):
            return state
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still {state} after {timeout:.0f} s")
        time.sleep(3)


def ti_table(tis: list[dict]) -> str:
    """The run's task instances in start order: task, map label, state, hostname, duration."""
    rows = [("task_id", "map", "state", "hostname", "duration_s")]
    for ti in sorted(tis, key=lambda t: (t.get("start_date") or "9", t["task_id"], t["map_index"])):
        label = ti.get("rendered_map_index") or ("" if ti["map_index"] < 0 else str(ti["map_index"]))
        duration = f"{ti['duration']:.1f}" if ti.get("duration") is not None else ""
        rows.append((ti["task_id"], label, ti["state"] or "", ti.get("hostname") or "", duration))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def task_logs(home: Path, run_id: str, task_ids: set[str]) -> list[Path]:
    """The log files of ``task_ids`` in ``run_id`` (every map index and attempt)."""
    run_dir = next((home / "logs").glob(f"dag_id=*/run_id={run_id}"), None)
    return sorted(p for t in task_ids for p in run_dir.glob(f"task_id={t}/**/attempt=*.log")) if run_dir else []


def start_airflow(env: dict[str, str], logs: Path, stack: contextlib.ExitStack) -> dict[str, tuple]:
    """Airflow's components, each in its own process group with its log in ``logs``, stopped with ``stack``;
    returns ``{name: (process, log)}``. The workers are named after their Celery hostname (``worker1``...)."""
    components = {
        "api-server": (["api-server"], env),
        "scheduler": (["scheduler"], env),
        "dag-processor": (["dag-processor"], env),
        "triggerer": (["triggerer"], env),
        **{
            hostname.partition("@")[0]: (["celery", "worker", "--celery-hostname", hostname], worker_env(env, hostname))
            for hostname in WORKERS
        },
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    processes = {}
    started: list[subprocess.Popen] = []
    stack.callback(stop_all, started)  # registered first, so a failed start still stops the ones before it
    for name, (args, component_env) in components.items():
        log = logs / f"{name}.log"
        started.append(spawn([airflow, *args], component_env, log))
        processes[name] = (started[-1], log)
    return processes


# Seconds a component gets to stop on SIGTERM before SIGKILL (the scheduler has been seen to ignore SIGTERM).
STOP_GRACE = 10


def stop_all(processes: list[subprocess.Popen]) -> None:
    """Stop ``processes`` side by side (as ``docker compose down`` does), each with its whole session."""
    with ThreadPoolExecutor(max(1, len(processes))) as pool:
        list(pool.map(lambda process: stop_session(process, STOP_GRACE), processes))  # re-raise errors


def training_hosts(api: airflow_api.Api, run_id: str, state: str, home: Path) -> dict[str, list[str]]:
    """Print the run's task instances; returns ``{family: [hostname of each try]}`` of the training tasks.
    Raises, with the failed tasks' logs, unless the run succeeded with its training spread over both workers."""
    tis = api.task_instances(run_id)
    print(ti_table(tis))
    if state != "success":
        bad = {ti["task_id"] for ti in tis if ti["state"] in ("failed", "up_for_retry", "upstream_failed")}
        for path in task_logs(home, run_id, bad):
            print(tail(path))
        raise RuntimeError(f"run {run_id} {state} (tasks not successful: {', '.join(sorted(bad)) or 'none'})")
    train = {
        ti["rendered_map_index"] or str(ti["map_index"]): [t["hostname"] for t in tries(api, run_id, ti)]
        for ti in tis
        if ti["task_id"] == "train"
    }
    if {host for hosts in train.values() for host in hosts} != set(WORKERS):
        raise RuntimeError(f"the training tasks ran on {train}, not on both {WORKERS}")
    return train


def tries(api: airflow_api.Api, run_id: str, ti: dict) -> list[dict]:
    """Every try of the task instance ``ti``, oldest first (hostname, state, try_number)."""
    path = f"/dags/{api.dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}/tries"
    return sorted(api.get(path)["task_instances"], key=lambda t: t["try_number"])


def kill_training_worker(
    api: airflow_api.Api, run_id: str, family: str, processes: dict[str, tuple], aws: local_aws.LocalAws
) -> dict[str, object]:
    """SIGKILL the worker running ``train[family]`` with its whole process tree, once the task runs and before
    its candidate is in S3; returns ``{"worker", "family", "keys_at_kill"}``. The worker leaves ``processes``."""
    candidate = f"{run_prefix(run_id)}/{layout.candidate(family)}"
    deadline = time.monotonic() + 600  # validate and preprocess come first
    map_index = None  # train's map index of ``family``: its place in plan_training's list (the UI's label
    # for a mapped task, rendered_map_index, appears only once the task has ended)
    while True:
        check_alive(list(processes.values()))
        tis = api.task_instances(run_id)
        if map_index is None and any(t["task_id"] == "plan_training" and t["state"] == "success" for t in tis):
            plan = api.get(f"/dags/{api.dag_id}/dagRuns/{run_id}/taskInstances/plan_training/xcomEntries/return_value")
            map_index = [spec["family"] for spec in plan["value"]].index(family)
        running = [
            ti for ti in tis if ti["task_id"] == "train" and ti["map_index"] == map_index and ti["state"] == "running"
        ]
        if running and running[0].get("hostname") in WORKERS:
            break
        ended = [t for t in tis if t["task_id"] == "train" and t["map_index"] == map_index and t["state"] != "running"]
        if time.monotonic() > deadline or any(t["end_date"] for t in ended):
            raise RuntimeError(f"train[{family}] was not seen running: {[t['state'] for t in ended]}")
        time.sleep(0.5)
    worker = running[0]["hostname"]
    process, _log = processes.pop(worker.partition("@")[0])
    stop_session(process, grace=0)  # as a machine that dies takes its processes with it
    keys = {o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=local_aws.DEFAULT_BUCKET).get("Contents", [])}
    if candidate in keys:
        raise RuntimeError(f"killed {worker} too late: {candidate} was already written")
    return {"worker": worker, "family": family, "keys_at_kill": sorted(keys)}


def check_recovery(api: airflow_api.Api, run_id: str, killed: dict, train: dict[str, list[str]]) -> str:
    """The killed task's tries: the first on the killed worker, failed for want of a heartbeat; the last on the
    other worker, successful. Returns the result line's suffix."""
    family, worker = killed["family"], killed["worker"]
    hosts = train[family]
    if len(hosts) < 2 or hosts[0] != worker or hosts[-1] == worker:
        raise RuntimeError(f"train[{family}] was not retried elsewhere after {worker} died: tries on {hosts}")
    return f" killed={worker}:{family} retried_on={hosts[-1]} tries={len(hosts)}"


def check_outputs(aws: local_aws.LocalAws, run_id: str, queue_url: str) -> str:
    """Check the run's artifacts in S3 (all there, the model the bytes its metadata records, no upload left
    half-done) and its one SNS message; returns a one-line summary."""
    bucket, prefix = local_aws.DEFAULT_BUCKET, run_prefix(run_id)
    s3 = aws.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])}
    for name in ("model.json", "model.joblib", "metrics.json", "new.csv", "report.html"):
        if f"{prefix}/{name}" not in keys:
            raise RuntimeError(f"s3://{bucket}/{prefix}/{name} is missing")
    model = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/model.json")["Body"].read())
    model_bytes = s3.get_object(Bucket=bucket, Key=f"{prefix}/model.joblib")["Body"].read()
    if hashlib.sha256(model_bytes).hexdigest() != model["sha256"]:
        raise RuntimeError(f"s3://{bucket}/{prefix}/model.joblib is not the model that model.json records")
    if unfinished := s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        raise RuntimeError(f"uploads left unfinished: {[u['Key'] for u in unfinished]}")
    messages = aws.messages(queue_url)
    if len(messages) != 1:
        raise RuntimeError(f"{len(messages)} SNS messages reached the topic's queue, not the run's one")
    return (
        f"{len(keys)} objects under s3://{bucket}/{prefix}/ (model.json: {model['family']}); "
        f"SNS messages: {len(messages)}, subject: {messages[-1]['subject']}"
    )


def run_demo(
    tmp: Path,
    stack: contextlib.ExitStack,
    timeout: float,
    data: Path = local_aws.DATA_FILE,
    conf: dict | None = None,
    kill_family: str | None = None,
) -> str:
    """Start the topology (registering each part's teardown on ``stack``), run the DAG on ``data`` with
    :data:`CONF` updated by ``conf``, check it; returns the result line. With ``kill_family``, the worker
    running that family's training is killed mid-task (:func:`kill_training_worker`). Raises on any failure,
    after printing the logs that explain it."""
    conf = {**CONF, **(conf or {})}
    started = time.perf_counter()
    logs = tmp / "logs"
    logs.mkdir()

    def step(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    aws = stack.enter_context(local_aws.LocalAws())
    topic_arn, queue_url = aws.seed(data=data)
    step(f"local S3/SNS (moto) at {aws.endpoint}: {data} as s3://{local_aws.DEFAULT_BUCKET}/banking.csv")
    step(f"SNS topic {topic_arn}")

    postgres = start_postgres(tmp / "postgres", stack)
    step(f"PostgreSQL {postgres.bindir.parent.name} at 127.0.0.1:{postgres.port} (data in {postgres.data})")

    redis_port = start_redis(tmp / "redis", logs / "redis.log", stack)
    step(f"Redis at 127.0.0.1:{redis_port}")

    home = tmp / "airflow"
    home.mkdir(mode=0o700)  # airflow.cfg holds generated secrets
    env = airflow_environment(aws, home, postgres, redis_port)
    if kill_family:
        env.update(LOST_WORKER_SETTINGS)
    local_aws.migrate(env)
    step(f"airflow db migrate done (AIRFLOW_HOME {home})")

    processes = start_airflow(env, logs, stack)
    watched = dict(processes)  # the components expected alive: a killed worker leaves it
    api = airflow_api.Api(env["AIRFLOW__API__BASE_URL"])
    step(f"started {', '.join(processes)} (logs in {logs}); API at {api.root}")
    try:
        # Both workers must be listening before the run, or the first one up could take every task.
        for hostname in WORKERS:
            log = processes[hostname.partition("@")[0]][1]
            ready = f"{hostname} ready."
            wait_for(lambda log=log, ready=ready: ready in log.read_text(), 240, hostname, list(processes.values()))
        api.wait_until_up(*processes["api-server"])
        step("workers ready; the API serves the DAG")
        api.unpause_without_catchup_run()
        run_id = api.trigger(conf)
        step(f"triggered {run_id} with conf {json.dumps(conf)}")
        killed = kill_training_worker(api, run_id, kill_family, watched, aws) if kill_family else None
        if killed:
            step(f"killed {killed['worker']} (SIGKILL, its whole process tree) while it ran train[{kill_family}]")
        state = wait_for_run(api, run_id, timeout, list(watched.values()))
        step(f"run {state}")
        train = training_hosts(api, run_id, state, home)
        recovered = check_recovery(api, run_id, killed, train) if killed else ""
        step(check_outputs(aws, run_id, queue_url))
    except Exception:
        for name, (component, log) in processes.items():
            if name in ("scheduler", *(h.partition("@")[0] for h in WORKERS)) or component.poll() is not None:
                print(tail(log))
        raise
    workers = ",".join(sorted({host for hosts in train.values() for host in hosts}))
    by_worker = ",".join(f"{family}:{hosts[-1]}" for family, hosts in sorted(train.items()))
    wall_s = time.perf_counter() - started
    return f"CELERY_DEMO OK run={run_id} workers={workers} train_by_worker={by_worker} wall_s={wall_s:.1f}{recovered}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the DAG run")
    parser.add_argument(
        "--input",
        type=Path,
        default=local_aws.DATA_FILE,
        help="CSV the run trains on, uploaded as s3://bank-ml/banking.csv (default: include/data/banking.csv)",
    )
    parser.add_argument(
        "--conf",
        type=json.loads,
        default={},
        help="JSON object of run Params over the demo's own, e.g. '{\"cv_folds\": 2}'",
    )
    parser.add_argument(
        "--kill-worker",
        metavar="FAMILY",
        choices=CONF["model_families"],
        help="SIGKILL the worker training FAMILY mid-task; the run must recover on the other worker",
    )
    args = parser.parse_args()

    result, code = "", 1
    tmp = Path(tempfile.mkdtemp(prefix="bank-ml-celery-"))
    tmp.chmod(0o711)  # the postgres OS user must reach its directory inside
    try:
        if missing := missing_python_modules():
            raise RuntimeError(f"missing from the virtual environment: {', '.join(missing)} (pin in requirements.in)")
        ensure_packages()
        with contextlib.ExitStack() as stack:
            try:
                result, code = run_demo(tmp, stack, args.timeout, args.input, args.conf, args.kill_worker), 0
            finally:
                ignore_stops()  # a second Ctrl-C must not cut the teardown short and leave servers behind
                print("stopping everything started", flush=True)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGHUP (processes.owning raises Terminated for them)
        result = "CELERY_DEMO FAILED interrupted"
        code = exit_code(stop)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")
        result = f"CELERY_DEMO FAILED {type(exc).__name__}: {str(exc).partition(chr(10))[0]}"
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(result, flush=True)
    return code


if __name__ == "__main__":
    # Its own teardown stops the topology in order; owning() then stops anything still left (a worker a
    # component forked, a server that outlived its stop) and returns only once nothing is left.
    with owning():
        code = main()
    sys.exit(code)
