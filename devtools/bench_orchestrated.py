"""Trigger-to-success of ``bank_marketing_training`` as a user waits for it, under a running Airflow.

``make bench`` times ``airflow dags test``, which runs every task in one process. A deployment runs each task
in a process of its own, picked by a scheduler loop, queued to an executor and reported back through the
Execution API, so the time *between* tasks counts too. This module measures that, on two topologies:

* ``local``: ``airflow standalone`` (LocalExecutor, SQLite), as ``devtools.airflow_api.standalone`` starts it;
* ``celery``: the docker-compose topology of ``make celery-demo`` (API server, scheduler, DAG processor,
  triggerer, two Celery workers, PostgreSQL, Redis), started with ``devtools.celery_demo``'s functions.

Both talk to moto's S3/SNS/SQS server in a process of its own on 127.0.0.1. The servers start once per
executor; each repeat triggers one run through the REST API on a fresh private bucket holding ``banking.csv``
(conf: the bucket, ``approval=auto``, ``wait_timeout_seconds=60``; every other Param at its default, so all
three model families) and waits until the run succeeds. Per run it keeps:

* trigger-to-success: from just before the trigger's POST to the run's ``end_date``; the run's
  ``start_date - queued_at``;
* per task instance (REST ``taskInstances``): run time (end - start), wait in the executor's queue
  (start - queued_when) and scheduling delay (queued_when - the latest end of its upstream task instances,
  upstream from ``GET /dags/{dag_id}/tasks``), split into upstream-end to ``scheduled_when`` and
  ``scheduled_when`` to ``queued_when``;
* the critical path (walking back from the last task to finish through the upstream instance that finished
  last): the sum of its task run times against the wall time, so the time between tasks shows.

Usage::

    .venv/bin/python -m devtools.bench_orchestrated --executor local --repeats 3
    .venv/bin/python -m devtools.bench_orchestrated --executor celery --repeats 3 \\
        --setting AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=0.2 --label idle02

It prints markdown tables and writes ``out/bench/orchestrated-<executor>[-<label>].json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from devtools import airflow_api, bench, celery_demo, local_aws

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "bench"
DAG_ID = airflow_api.TRAINING_DAG
EXECUTORS = ("local", "celery")
# What every measured run sets; the rest are the DAG's defaults (all three families, default grid, 3 folds).
BASE_CONF: dict[str, Any] = {"approval": "auto", "wait_timeout_seconds": 60}
# Seconds between looks at a run's state. The figures come from the run's own timestamps in the database, so
# the poll interval does not change them; a slower poll only costs the 2-core machine less CPU in the API.
POLL_S = 1.0


# ------------------------------------------------------------------------------------------------- helpers
def epoch(stamp: str | None) -> float | None:
    """An ISO 8601 timestamp from the REST API (``...Z`` or ``+00:00``) as epoch seconds; None stays None."""
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def spread(values: Iterable[float | None]) -> dict[str, float] | None:
    """Median, min and max of the values that are not None (None if there are none)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return {
        "median": round(statistics.median(present), 2),
        "min": round(min(present), 2),
        "max": round(max(present), 2),
        "n": len(present),
    }


def parse_settings(pairs: Iterable[str]) -> dict[str, str]:
    """``AIRFLOW__SECTION__KEY=value`` strings as an environment dict; anything else is refused."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith(("AIRFLOW__", "BANK_ML_")):
            raise ValueError(f"--setting wants AIRFLOW__SECTION__KEY=value (or BANK_ML_...=value), not {pair!r}")
        settings[name] = value
    return settings


def label_of(ti: dict[str, Any]) -> str:
    """``task_id``, or ``task_id[family]`` for a mapped instance (its rendered map index, else the index)."""
    if ti["map_index"] < 0:
        return ti["task_id"]
    return f"{ti['task_id']}[{ti.get('rendered_map_index') or ti['map_index']}]"


def upstream_map(api: airflow_api.Api) -> dict[str, list[str]]:
    """``{task_id: [upstream task ids]}`` from the serialized DAG's ``downstream_task_ids``."""
    tasks = api.get(f"/dags/{api.dag_id}/tasks")["tasks"]
    upstream: dict[str, list[str]] = {t["task_id"]: [] for t in tasks}
    for task in tasks:
        for child in task.get("downstream_task_ids") or []:
            upstream.setdefault(child, []).append(task["task_id"])
    return upstream


# ------------------------------------------------------------------------------------------ one run's figures
def task_figures(tis: list[dict[str, Any]], upstream: dict[str, list[str]], posted: float) -> list[dict[str, Any]]:
    """Per task instance: its timestamps (seconds after the trigger's POST) and the gaps around it."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    rows = []
    for ti in tis:
        start, end = epoch(ti.get("start_date")), epoch(ti.get("end_date"))
        queued, scheduled = epoch(ti.get("queued_when")), epoch(ti.get("scheduled_when"))
        # A mapped upstream is done when its last instance is: the latest end of every instance of every
        # upstream task (a skipped one included: its end is when the branch decided).
        ends = [
            e for up in upstream.get(ti["task_id"], []) for u in by_task.get(up, []) if (e := epoch(u.get("end_date")))
        ]
        ready = max(ends) if ends else posted  # a root task becomes ready when the run is triggered

        def gap(later: float | None, earlier: float | None) -> float | None:
            return round(later - earlier, 3) if later is not None and earlier is not None else None

        rows.append(
            {
                "task": label_of(ti),
                "task_id": ti["task_id"],
                "map_index": ti["map_index"],
                "state": ti["state"],
                "hostname": ti.get("hostname"),
                "try_number": ti.get("try_number"),
                "upstream_end_s": gap(ready, posted),
                "scheduled_s": gap(scheduled, posted),
                "queued_s": gap(queued, posted),
                "start_s": gap(start, posted),
                "end_s": gap(end, posted),
                "run_s": gap(end, start),
                "queue_wait_s": gap(start, queued),
                "sched_delay_s": gap(queued, ready),
                "ready_to_scheduled_s": gap(scheduled, ready),
                "scheduled_to_queued_s": gap(queued, scheduled),
                "gap_s": gap(start, ready),  # sched_delay_s + queue_wait_s: ready to running
            }
        )
    return sorted(rows, key=lambda r: (r["start_s"] is None, r["start_s"] or 0, r["task"]))


def critical_path(rows: list[dict[str, Any]], upstream: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The chain of task instances that ran, from the last to end back to a root, each time through the upstream
    instance that ended last (the one its successor waited for); returned root first."""
    ran = [r for r in rows if r["start_s"] is not None and r["end_s"] is not None]
    if not ran:
        return []
    path = [max(ran, key=lambda r: r["end_s"])]
    while True:
        ups = [r for r in ran if r["task_id"] in upstream.get(path[-1]["task_id"], [])]
        if not ups:
            return path[::-1]
        path.append(max(ups, key=lambda r: r["end_s"]))


def run_figures(run: dict[str, Any], rows: list[dict[str, Any]], path: list[dict[str, Any]], posted: float) -> dict:
    """The run's totals: trigger-to-success, its own queue time, and the critical path's run and gap times."""
    end, start, queued = epoch(run["end_date"]), epoch(run["start_date"]), epoch(run.get("queued_at"))
    assert end is not None and start is not None
    path_run = sum(r["run_s"] for r in path)
    ran = [r for r in rows if r["run_s"] is not None]
    return {
        "run_id": run["dag_run_id"],
        "trigger_to_success_s": round(end - posted, 2),
        "run_start_minus_queued_s": round(start - queued, 2) if queued is not None else None,
        "trigger_to_run_start_s": round(start - posted, 2),
        "trigger_to_first_task_start_s": min(r["start_s"] for r in ran) if ran else None,
        "critical_path": [r["task"] for r in path],
        "critical_path_run_s": round(path_run, 2),
        # Everything on the critical path that is not a task running: trigger to the first task, and each
        # task's wait from its upstream's end to its own start.
        "between_tasks_s": round(end - posted - path_run, 2),
        "critical_path_gaps_s": round(sum(r["gap_s"] or 0 for r in path), 2),
        "task_run_sum_s": round(sum(r["run_s"] for r in ran), 2),
        "task_instances_run": len(ran),
    }


# ----------------------------------------------------------------------------------------------- the servers
@contextlib.contextmanager
def local_server(aws: local_aws.LocalEndpoint, workdir: Path, settings: dict[str, str]) -> Generator[dict]:
    """``airflow standalone`` (LocalExecutor, SQLite) on a free 127.0.0.1 port; yields ``{api, home, logs}``."""
    home = workdir / "airflow"
    with airflow_api.standalone(aws.connection(), home, extra_env=settings) as api:
        yield {"api": api, "home": home, "logs": [home / "standalone.log"], "processes": []}


@contextlib.contextmanager
def celery_server(aws: local_aws.LocalEndpoint, workdir: Path, settings: dict[str, str]) -> Generator[dict]:
    """``make celery-demo``'s topology, started with its functions; yields ``{api, home, logs, processes}``."""
    if missing := celery_demo.missing_python_modules():
        raise RuntimeError(f"missing from the virtual environment: {', '.join(missing)}")
    celery_demo.ensure_packages()
    workdir.chmod(0o711)  # the postgres OS user must reach its directory inside
    logs = workdir / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack:
        postgres = celery_demo.start_postgres(workdir / "postgres", stack)
        redis_port = celery_demo.start_redis(workdir / "redis", logs / "redis.log", stack)
        home = workdir / "airflow"
        home.mkdir(mode=0o700)  # airflow.cfg holds generated secrets
        # airflow_environment only reads the endpoint's connection, which a MotoProcess has as LocalAws does.
        env = celery_demo.airflow_environment(aws, home, postgres, redis_port)  # type: ignore[arg-type]
        env.update(settings)
        local_aws.migrate(env)
        processes = celery_demo.start_airflow(env, logs, stack)
        watched = list(processes.values())
        api = airflow_api.Api(env["AIRFLOW__API__BASE_URL"])
        # Both workers listening before the first run, or the first one up takes every task.
        for hostname in celery_demo.WORKERS:
            log = processes[hostname.partition("@")[0]][1]
            celery_demo.wait_for(lambda log=log, h=hostname: f"{h} ready." in log.read_text(), 240, hostname, watched)
        api.wait_until_up(*processes["api-server"])
        yield {"api": api, "home": home, "logs": [log for _, log in watched], "processes": watched}


def _descendants() -> list[psutil.Process]:
    """Every process this one started, and everything in the sessions they opened (``start_new_session``
    children whose own children were re-parented to init when their parent died first)."""
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    sessions = set(found)
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid != me.pid and os.getsid(proc.pid) in sessions:
                found.setdefault(proc.pid, proc)
    return list(found.values())


def reap(processes: list[psutil.Process], timeout: float = 20) -> list[int]:
    """Wait until ``processes`` are gone; SIGKILL those still alive after ``timeout`` s (airflow standalone's
    scheduler children can ignore SIGTERM). Returns the pids that had to be killed."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(alive, timeout=10)
    return [p.pid for p in alive]


# ------------------------------------------------------------------------------------------------- the runs
def fresh_bucket(aws: local_aws.LocalEndpoint, number: int, data: Path = local_aws.DATA_FILE) -> str:
    """A new private bucket holding only ``banking.csv``: every run does the same work (and promotes)."""
    bucket = f"orchestrated-{os.getpid()}-{number}"
    aws.create_bucket(bucket)
    aws.upload(bucket, "banking.csv", data)
    return bucket


def failure_text(server: dict[str, Any], run_id: str, tis: list[dict[str, Any]]) -> str:
    """The failed tasks' log tails and the components' log tails, for a loud failure."""
    bad = {ti["task_id"] for ti in tis if ti["state"] in ("failed", "up_for_retry", "upstream_failed")}
    parts = [f"run {run_id} failed; tasks not successful: {', '.join(sorted(bad)) or 'none'}"]
    parts += [celery_demo.tail(path) for path in celery_demo.task_logs(server["home"], run_id, bad)]
    parts += [celery_demo.tail(path, 25) for path in server["logs"]]
    return "\n".join(parts)


def one_run(
    server: dict[str, Any], aws: local_aws.LocalEndpoint, number: int, conf: dict, upstream: dict, timeout: float
) -> dict[str, Any]:
    """Trigger one run on a fresh bucket, wait for its end, and return its figures; raise if it failed."""
    api: airflow_api.Api = server["api"]
    bucket = fresh_bucket(aws, number)
    posted = time.time()  # before the POST: what a user clicking "Trigger" waits from
    run_id = api.trigger({**conf, "bucket": bucket})
    # celery_demo's wait also marks a scheduled run that unpausing created as success, so it takes no slot.
    state = celery_demo.wait_for_run(api, run_id, timeout, server["processes"])
    tis = api.task_instances(run_id)
    if state != "success":
        raise RuntimeError(failure_text(server, run_id, tis))
    run = api.get(f"/dags/{api.dag_id}/dagRuns/{run_id}")
    rows = task_figures(tis, upstream, posted)
    path = critical_path(rows, upstream)
    return {**run_figures(run, rows, path, posted), "bucket": bucket, "tasks": rows}


def bare_run(aws: local_aws.LocalEndpoint, workdir: Path, number: int, topic_arn: str) -> float:
    """Wall seconds of one bare pipeline run (``devtools.bench``'s child process: one Python process, the same
    functions and S3 traffic), interpreter start and imports included as in ``make bench``."""
    bucket = fresh_bucket(aws, number)
    cmd = [sys.executable, "-m", "devtools.bench", "--bare-child", "--endpoint", aws.endpoint, "--bucket", bucket,
           "--key", "banking.csv", "--topic-arn", topic_arn, "--run-id", f"bare_{bucket}",
           "--out", str(workdir / f"{bucket}.json")]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        cmd, env=bench.child_env(**bench.BARE_CREDENTIALS), capture_output=True, text=True, cwd=ROOT
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"bare run failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    return round(wall, 2)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range of each run figure, and of each task's figures, over ``runs``."""
    keys = ("trigger_to_success_s", "run_start_minus_queued_s", "trigger_to_run_start_s",
            "trigger_to_first_task_start_s", "critical_path_run_s", "between_tasks_s", "critical_path_gaps_s",
            "task_run_sum_s")  # fmt: skip
    summary: dict[str, Any] = {k: spread(r[k] for r in runs) for k in keys}
    tasks: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(t["task"] for r in runs for t in r["tasks"]):
        rows = [t for r in runs for t in r["tasks"] if t["task"] == name]
        tasks[name] = {
            k: spread(t[k] for t in rows)
            for k in (
                "start_s",
                "end_s",
                "run_s",
                "queue_wait_s",
                "sched_delay_s",
                "ready_to_scheduled_s",
                "scheduled_to_queued_s",
                "gap_s",
            )
        }
        tasks[name]["states"] = sorted({t["state"] or "none" for t in rows})
        tasks[name]["on_critical_path"] = sum(name in r["critical_path"] for r in runs)
    summary["tasks"] = tasks
    return summary


def measure(
    executor: str,
    repeats: int,
    workdir: Path,
    settings: dict[str, str] | None = None,
    conf: dict[str, Any] | None = None,
    bare: int = 0,
    timeout: float = 900,
) -> dict[str, Any]:
    """Start ``executor``'s topology once ("local" or "celery") against a moto server, run the training DAG
    ``repeats`` times (each on a fresh bucket, triggered through the REST API) and return JSON-able figures:
    every run, medians and ranges over all runs and over the warm ones (all but the first after start-up),
    and, with ``bare`` > 0, that many bare pipeline runs before Airflow starts (the 1.5x reference).

    ``settings`` are extra environment variables for every Airflow component (e.g.
    ``{"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2"}``); ``conf`` is added to the run's conf.
    Everything started is stopped before it returns, whole process trees, also on failure.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
    settings = dict(settings or {})
    conf = {**BASE_CONF, **(conf or {})}
    result: dict[str, Any] = {
        "executor": executor,
        "settings": settings,
        "conf": conf,
        "repeats": repeats,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_at_start": os.getloadavg()},
        "started": datetime.now().isoformat(timespec="seconds"),
    }
    server_cm = local_server if executor == "local" else celery_server
    left: list[psutil.Process] = []
    try:
        with local_aws.MotoProcess() as aws:
            # The default bucket with its file-event queue and the alert topic: the DAG's default SNS topic
            # must exist, and the triggerer's watcher finds its queue instead of retrying a missing one.
            topic_arn, _ = aws.seed()
            if bare:
                result["bare_s"] = [bare_run(aws, workdir, 1000 + i, topic_arn) for i in range(bare)]
                print(f"bare runs: {result['bare_s']} s", flush=True)
            started = time.perf_counter()
            with server_cm(aws, workdir, settings) as server:
                result["startup_s"] = round(time.perf_counter() - started, 1)
                api: airflow_api.Api = server["api"]
                api.unpause_without_catchup_run()
                upstream = upstream_map(api)
                result["upstream"] = upstream
                runs = []
                try:
                    for i in range(repeats):
                        runs.append(one_run(server, aws, i, conf, upstream, timeout))
                        print(
                            f"{executor} run {i + 1}/{repeats}: "
                            f"trigger-to-success {runs[-1]['trigger_to_success_s']} s,"
                            f" critical path run {runs[-1]['critical_path_run_s']} s,"
                            f" between tasks {runs[-1]['between_tasks_s']} s",
                            flush=True,
                        )
                finally:
                    result["runs"] = runs
                    # Taken while everything runs: the teardown below kills what did not stop by itself.
                    left = _descendants()
    finally:
        # Also whatever is still a child of this process (e.g. after a failed start-up).
        result["killed_after_teardown"] = reap(left + psutil.Process().children(recursive=True))
    result["load_at_end"] = os.getloadavg()
    result["all"] = summarise(result["runs"])
    if len(result["runs"]) > 1:
        result["cold"] = summarise(result["runs"][:1])
        result["warm"] = summarise(result["runs"][1:])
    if result.get("bare_s"):
        bare_median = statistics.median(result["bare_s"])
        result["bare"] = spread(result["bare_s"])
        result["ratio_to_bare"] = {
            k: round(result[k]["trigger_to_success_s"]["median"] / bare_median, 2)
            for k in ("all", "warm")
            if k in result
        }
    return result


# --------------------------------------------------------------------------------------------------- tables
def _fmt(s: dict[str, float] | None) -> str:
    if not s:
        return "–"
    return f"{s['median']:.2f}" if s["min"] == s["max"] else f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def table(result: dict[str, Any]) -> str:
    """Markdown: one summary table (each run, all runs, warm runs, bare reference) and one per-task table."""
    settings = ", ".join(f"`{k}={v}`" for k, v in result["settings"].items()) or "none"
    lines = [
        f"### {result['executor']}: trigger-to-success of `{DAG_ID}`",
        "",
        f"Settings: {settings}. Start-up of the servers: {result.get('startup_s', '–')} s. "
        f"Load average at start / end: {', '.join(f'{x:.2f}' for x in result['machine']['load_at_start'])} / "
        f"{', '.join(f'{x:.2f}' for x in result['load_at_end'])}.",
        "",
        "| figure, s | "
        + " | ".join(f"run {i + 1}" for i in range(len(result["runs"])))
        + " | median (range) | warm |",
        "|---|" + "---|" * len(result["runs"]) + "---|---|",
    ]
    for key, label in (
        ("trigger_to_success_s", "trigger to success (POST to run end_date)"),
        ("run_start_minus_queued_s", "run start_date - queued_at"),
        ("trigger_to_first_task_start_s", "trigger to first task start"),
        ("critical_path_run_s", "critical path: sum of task run times"),
        ("between_tasks_s", "wall - critical path run time (between tasks)"),
        ("task_run_sum_s", "all task run times summed"),
    ):
        cells = [f"{r[key]:.2f}" if r[key] is not None else "–" for r in result["runs"]]
        warm = _fmt(result["warm"][key]) if "warm" in result else "–"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_fmt(result['all'][key])} | {warm} |")
    if result.get("bare"):
        ratio = result["ratio_to_bare"]
        lines += [
            "",
            f"Bare pipeline (reference): {_fmt(result['bare'])} s; trigger-to-success / bare: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()),
        ]
    if result["runs"]:
        lines += ["", "Critical path: " + " → ".join(result["runs"][-1]["critical_path"])]
    lines += [
        "",
        "Per task instance, medians (range) over the runs, seconds. *ready*: the latest end of its upstream "
        "instances (the trigger for a root); *sched delay*: ready to queued; *queue wait*: queued to start; "
        "*run*: start to end. `*` on the critical path.",
        "",
        "| task | start after trigger | run | sched delay | of it ready→scheduled | queue wait | ready→start |",
        "|---|---|---|---|---|---|---|",
    ]
    tasks = result["all"]["tasks"]
    for name in sorted(tasks, key=lambda n: (tasks[n]["start_s"] or {"median": 1e9})["median"]):
        t = tasks[name]
        mark = "*" if t["on_critical_path"] else ""
        if t["run_s"] is None:
            lines.append(f"| {name}{mark} ({'/'.join(t['states'])}) | – | – | – | – | – | – |")
            continue
        lines.append(
            f"| {name}{mark} | {_fmt(t['start_s'])} | {_fmt(t['run_s'])} | {_fmt(t['sched_delay_s'])} | "
            f"{_fmt(t['ready_to_scheduled_s'])} | {_fmt(t['queue_wait_s'])} | {_fmt(t['gap_s'])} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ CLI
def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the teardown still runs."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=EXECUTORS, required=True)
    parser.add_argument("--repeats", type=int, default=3, help="runs on the same servers (the first is 'cold')")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="AIRFLOW__SECTION__KEY=VALUE",
        help="extra environment for every Airflow component (repeatable)",
    )
    parser.add_argument("--conf", type=json.loads, default={}, help="JSON added to each run's conf")
    parser.add_argument("--bare", type=int, default=0, help="bare pipeline runs before Airflow starts (reference)")
    parser.add_argument("--label", default="", help="suffix of the JSON file name, e.g. the setting tried")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (component logs)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)

    workdir = Path(tempfile.mkdtemp(prefix=f"bank-ml-orchestrated-{args.executor}-", dir="/tmp"))
    try:
        result = measure(
            args.executor, args.repeats, workdir, parse_settings(args.setting), args.conf, args.bare, args.timeout
        )
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"orchestrated-{args.executor}{'-' + args.label if args.label else ''}.json"
    (OUT / name).write_text(json.dumps(result, indent=2, default=str))
    print(table(result))
    print(f"\nfigures: {OUT / name}")
    warm = result.get("warm", result["all"])["trigger_to_success_s"]
    print(
        f"ORCHESTRATED executor={args.executor} trigger_to_success_s={result['all']['trigger_to_success_s']['median']}"
        f" warm_s={warm['median'] if warm else '-'} ratio={result.get('ratio_to_bare', {})}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
