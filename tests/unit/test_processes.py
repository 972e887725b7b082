"""devtools/processes.py: the one stop loop behind every command's teardown, the tests' session check, the
Celery demo's components and the lost worker, and the restarted scheduler."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devtools import processes
from tests.conftest import ROOT

# A parent with two children: one ignores SIGTERM, the other writes "term" to the marker file on SIGTERM (and
# "ready" once it listens). The parent ignores SIGTERM (``ignore``), as airflow standalone's scheduler seemed
# to, or dies of it leaving its children behind (``default``).
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
subprocess.Popen([sys.executable, "-c", sys.argv[2]])
subprocess.Popen([sys.executable, "-c", sys.argv[3], sys.argv[4]])
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def _start(marker: Path, parent: str) -> tuple[subprocess.Popen, list[psutil.Process]]:
    process = subprocess.Popen(
        [sys.executable, "-c", PARENT, parent, IGNORES, LISTENS, str(marker)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 10
    while len(members := processes.session(process.pid)()) < 3 or not marker.exists():
        assert time.monotonic() < deadline, members
        time.sleep(0.05)
    return process, members


def test_sigterm_goes_to_the_top_and_to_each_process_whose_parent_has_gone(tmp_path):
    process, members = _start(tmp_path / "marker", "default")

    killed = processes.stop_session(process, grace=2)

    # The parent died of SIGTERM; its children, left without it, got SIGTERM in turn: one stopped on it, the
    # one that ignores it was killed after the grace.
    assert killed == 1
    assert (tmp_path / "marker").read_text() == "term"
    assert processes.living(members) == [] and processes.session(process.pid)() == []
    assert process.returncode == -15


def test_a_child_whose_parent_lives_is_left_to_it_and_killed_with_it_after_the_grace(tmp_path):
    process, members = _start(tmp_path / "marker", "ignore")

    killed = processes.stop_session(process, grace=1)

    # Its parent ignored SIGTERM and so never stopped it: the stop did not signal it over the parent's head
    # (Airflow's scheduler hung when its LocalExecutor workers got SIGTERM beside it); SIGKILL ended all three.
    assert killed == 3
    assert (tmp_path / "marker").read_text() == "ready"
    assert processes.living(members) == []
    assert process.returncode == -9


def test_stop_session_with_no_grace_kills_at_once_without_a_sigterm(tmp_path):
    process, members = _start(tmp_path / "marker", "default")
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


# A command owning a child that ignores SIGTERM (as processes.run wraps make demo, make airflow, ...).
COMMAND = """
import signal, subprocess, sys, time
from devtools import processes

# Ctrl-C as in a terminal's foreground job, even where this test runs in the background (SIGINT ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)

def main():
    subprocess.Popen([sys.executable, "-c", sys.argv[1]])
    print("ready", flush=True)
    time.sleep(60)
    return 0

sys.exit(processes.run(main, grace=1))
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_command_stopped_by_a_signal_leaves_nothing_running_and_says_how_it_ended(sig, code):
    command = subprocess.Popen(
        [sys.executable, "-c", COMMAND, IGNORES], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert command.stdout is not None and command.stdout.readline().strip() == "ready"
    [child] = psutil.Process(command.pid).children()

    command.send_signal(sig)

    assert command.wait(timeout=10) == code
    assert "nothing it started is left running" in command.stdout.read()
    assert processes.living([child]) == []


def test_with_default_sigint_gives_a_program_its_ctrl_c_back_where_sigint_is_ignored():
    shows = [
        sys.executable,
        "-c",
        "import signal; print(signal.getsignal(signal.SIGINT) == signal.default_int_handler)",
    ]
    # As a test run or a command started in the background (cmd &, nohup) has it: SIGINT ignored, inherited.
    ignoring = ["bash", "-c", "trap '' INT; exec \"$@\"", "ignoring"]

    inherited = subprocess.run([*ignoring, *shows], capture_output=True, text=True, check=True).stdout
    restored = subprocess.run(
        [*ignoring, *processes.with_default_sigint(shows)], capture_output=True, text=True, check=True
    ).stdout

    assert inherited.strip() == "False"  # ignored, so Python leaves it ignored
    assert restored.strip() == "True"  # Python turns SIGINT into KeyboardInterrupt again
