"""The processes a command started, followed while it runs, to check afterwards that none is left.

A process that setproctitle renamed (`airflow worker -- LocalExecutor`) no longer shows the command line it was
started with, and one whose parent died moves under init: so processes are followed by tree and start time, not
by name. :class:`Tree` samples the command's descendants every ``interval`` seconds while it runs and remembers
each by (pid, start time): a pid reused later by an unrelated process is not mistaken for one of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from devtools import local_aws
from devtools.processes import stop_session, with_default_sigint
from tests.support.sampling import Sampling


class Tree(Sampling):
    """Every descendant of ``root`` seen while the context is open (sampled in a background thread)."""

    def __init__(self, root: int, interval: float = 0.3) -> None:
        super().__init__(interval)
        self.root = root
        self.seen: dict[int, tuple[float, str]] = {}  # pid -> (start time, command line when first seen)

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process(self.root).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if proc.pid not in self.seen:
                        self.seen[proc.pid] = (proc.create_time(), " ".join(proc.cmdline()[:4]) or proc.name())

    def alive(self) -> dict[int, str]:
        """The processes seen that still run, pid -> command (a zombie has ended; it only waits to be reaped)."""
        left = {}
        for pid, (started, command) in self.seen.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if abs(proc.create_time() - started) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
                    left[pid] = command
        return left


STOP_WITHIN = 30  # seconds from the signal until nothing the command started is alive


def start_make(args: list[str], log: Path) -> subprocess.Popen:
    """``make args`` in a session of its own (its own process group, as a terminal's foreground job), with
    SIGINT at its default as in a terminal: a test run started in the background (``cmd &``, ``nohup``) ignores
    SIGINT, every child inherits that, and Ctrl-C would then reach no one (``processes.with_default_sigint``)."""
    with log.open("w") as out:
        return subprocess.Popen(
            with_default_sigint(["make", "--no-print-directory", *args]), stdout=out, stderr=subprocess.STDOUT,
            cwd=local_aws.ROOT, start_new_session=True,
        )  # fmt: skip


def stop_and_check(process: subprocess.Popen, tree: Tree, how: str, log: Path, at_least: int = 4) -> int:
    """Send ``how`` (``ctrl-c``: SIGINT to the process group; ``sigterm``: SIGTERM to make alone); assert that
    within :data:`STOP_WITHIN` seconds make has returned and nothing it started is alive (``at_least`` of them
    seen while it ran); returns make's code."""
    tree.sample()
    signalled = time.monotonic()
    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        stop_session(process, grace=0)
        pytest.fail(f"make still running {STOP_WITHIN} s after {how}:\n{log.read_text()[-3000:]}")
    while (left := tree.alive()) and time.monotonic() < signalled + STOP_WITHIN:
        time.sleep(0.5)
    for pid in left:  # leave nothing behind for the next test, then fail
        with contextlib.suppress(ProcessLookupError):  # it may have ended since
            os.kill(pid, signal.SIGKILL)
    assert left == {}, f"still running {STOP_WITHIN} s after {how}: {left}\n{log.read_text()[-3000:]}"
    assert len(tree.seen) >= at_least, tree.seen  # the tree was followed: what it started was seen
    return code
