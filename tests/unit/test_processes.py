"""devtools/processes.py: the one stop loop behind every command's teardown, the tests' session check, the
Celery demo's components and the lost worker, and the restarted scheduler."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

from devtools import processes

# A tree that outlives a polite stop, as airflow standalone's scheduler did: a parent and a child that ignore
# SIGTERM, and a child that writes "term" to the marker file on SIGTERM (and "ready" once it listens).
IGNORES = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
LISTENS = """
import pathlib, signal, sys, time
marker = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: (marker.write_text("term"), sys.exit(0)))
marker.write_text("ready")
time.sleep(60)
"""
PARENT = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", sys.argv[1]])
subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[3]])
print("ready", flush=True)
time.sleep(60)
"""


def _start(marker: Path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    process = subprocess.Popen(
        [sys.executable, "-c", PARENT, IGNORES, LISTENS, str(marker)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 10
    # Signal dispositions are inherited: until the third installs its handler, it ignores SIGTERM too.
    while len(members := processes.session(process.pid)()) < 3 or not marker.exists():
        assert time.monotonic() < deadline, members
        time.sleep(0.05)
    return process, members


def test_stop_session_terms_then_kills_what_ignores_sigterm_and_waits_until_none_is_left(tmp_path):
    process, members = _start(tmp_path / "marker")

    killed = processes.stop_session(process, grace=1)

    assert killed == 2  # the two that ignore SIGTERM; the third stopped on it
    assert (tmp_path / "marker").read_text() == "term"
    assert processes.living(members) == [] and processes.session(process.pid)() == []
    assert process.returncode == -9


def test_stop_session_with_no_grace_kills_at_once_without_a_sigterm(tmp_path):
    process, members = _start(tmp_path / "marker")
    started = time.monotonic()

    killed = processes.stop_session(process, grace=0)

    assert killed == 3
    assert time.monotonic() - started < 5
    assert (tmp_path / "marker").read_text() == "ready"  # no process saw a SIGTERM
    assert processes.living(members) == []


def test_stop_of_an_empty_list_does_nothing():
    said: list[str] = []

    assert processes.stop(lambda: [], grace=1, say=said.append) == 0
    assert said == []
