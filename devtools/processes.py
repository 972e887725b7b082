"""Owning what a command starts: on Ctrl-C, SIGTERM or an error, every process it started is stopped, and the
command returns only once they are all gone.

``airflow standalone`` stops its components on SIGINT only partly (its scheduler, with 32 idle LocalExecutor
workers, or its DAG processor and triggerer, kept running, ignored SIGTERM and needed SIGKILL), and servers that
daemonize (PostgreSQL after ``pg_ctl``) leave the process tree altogether. So a command that starts servers for a
person wraps its work in :func:`owning`:

- the command becomes a *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``): a descendant whose parent dies is
  re-parented to the command, not to init, so every process it ever started stays in its tree, however deep or
  daemonized;
- SIGTERM (a process manager's stop) and SIGHUP (the terminal closed) unwind like Ctrl-C;
- on the way out, whatever the reason, SIGINT, SIGTERM and SIGHUP are ignored (a second Ctrl-C cannot cut the
  teardown short), the descendants get SIGTERM from the top down (:func:`stop`), those still alive after
  ``grace`` seconds are named and get SIGKILL, and the command waits until none is left (reaping the zombies it
  inherited).

The exit code says how it ended: the work's own, 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

import psutil

PR_SET_CHILD_SUBREAPER = 36
GRACE_SECONDS = 15.0
# The signals that stop a command: Ctrl-C, a process manager's stop, the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``signum``), raised where the work is, so it unwinds as Ctrl-C does."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


def stopped_by(stop: KeyboardInterrupt) -> signal.Signals:
    """The signal behind ``stop``: SIGINT for Ctrl-C."""
    return signal.Signals(stop.signum if isinstance(stop, Terminated) else signal.SIGINT)


def exit_code(stop: KeyboardInterrupt) -> int:
    """How a command stopped by ``stop`` exits, as a shell reports a process killed by the signal (128 + its
    number): 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP."""
    return 128 + stopped_by(stop)


def ignore_stops() -> None:
    """Ignore every stop signal from now on: a second Ctrl-C (or a repeated SIGTERM) must not cut a teardown
    short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


# Execs its arguments with SIGINT at its default, as a terminal's foreground job has it (preexec_fn would do the
# same but is unsafe in a process with threads).
_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"
)


def with_default_sigint(argv: list[str]) -> list[str]:
    """``argv`` to be run with SIGINT at its default disposition, whatever this process has (same pid).

    A command started in the background (``cmd &``, ``nohup``, some CI runners) ignores SIGINT, and every child
    inherits that: a program whose stop is Ctrl-C, such as ``airflow standalone``, would then ignore its stop."""
    return [sys.executable, "-c", _DEFAULT_SIGINT, *argv]


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux); False where the kernel does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def living(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` still alive (a zombie is dead and only waits to be reaped)."""
    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def descendants() -> list[psutil.Process]:
    """Every live process below this one."""
    return living(psutil.Process().children(recursive=True))


def session(sid: int) -> Callable[[], list[psutil.Process]]:
    """A lister of the live processes of session ``sid``: all that a ``start_new_session`` child started,
    including helpers that moved to a process group of their own (joblib's loky workers do)."""

    def members() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if os.getsid(proc.pid) == sid:
                    found.append(proc)
        return living(found)

    return members


def _reap() -> None:
    """Collect the exit status of every finished child (the subreaper inherits them all)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _signal_all(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _describe(procs: list[psutil.Process]) -> str:
    names = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            names.append(f"{proc.pid} {' '.join(proc.cmdline()[:3]) or proc.name()}")
    return "; ".join(names)


def _quiet(message: str) -> None:
    return None


def _tell(say: Callable[[str], Any], message: str) -> None:
    # Once the terminal has closed (SIGHUP), printing fails: the teardown must go on regardless.
    with contextlib.suppress(OSError):
        say(message)


def _tops(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` whose parent is not among them."""
    pids = {proc.pid for proc in procs}
    tops = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.ppid() not in pids:
                tops.append(proc)
    return tops


def stop(
    members: Callable[[], list[psutil.Process]],
    grace: float = GRACE_SECONDS,
    say: Callable[[str], Any] = _quiet,
    reap: bool = False,
) -> int:
    """Stop every live process ``members()`` lists, and wait until none is left; returns how many had to be
    killed.

    SIGTERM goes to the processes at the top (whose parent is not a member), and to each process whose parent
    has gone since: each stops its own children (as ``docker stop`` signals only a container's first process).
    Not to all at once: given SIGTERM together with its LocalExecutor workers (which outlive it), Airflow's
    scheduler hung until killed; given it alone, it stopped them and exited within about a second. Whatever is
    alive ``grace`` seconds later gets SIGKILL (at once when ``grace`` is 0, as a machine that dies takes its
    processes with it). ``reap``: also collect every finished child of this process (the subreaper's inherited
    zombies; not where the caller waits for its own children's exit codes)."""
    procs = members()
    if not procs:
        return 0
    termed: set[psutil.Process] = set()

    def term_tops(procs: list[psutil.Process]) -> None:
        tops = [proc for proc in _tops(procs) if proc not in termed]
        _signal_all(tops, signal.SIGTERM)
        termed.update(tops)

    if grace > 0:
        _tell(say, f"stopping {len(procs)} processes (SIGTERM, from the top; SIGKILL after {grace:.0f} s)")
        term_tops(procs)
    deadline = time.monotonic() + grace
    while (left := members()) and time.monotonic() < deadline:
        term_tops(left)
        if reap:
            _reap()
        time.sleep(0.2)
    killed = len(left)
    if left and grace > 0:
        _tell(say, f"still running after {grace:.0f} s, sent SIGKILL: {_describe(left)}")
    # Until none is left: a process may fork while being stopped, and SIGKILL itself cannot be ignored.
    while left:
        _signal_all(left, signal.SIGKILL)
        if reap:
            _reap()
        time.sleep(0.1)
        left = members()
    if reap:
        _reap()
    return killed


def stop_descendants(grace: float = GRACE_SECONDS, say: Callable[[str], Any] = print) -> int:
    """Stop every descendant of this process (:func:`stop`, reaping them); returns how many had to be killed."""
    return stop(descendants, grace, say, reap=True)


def stop_session(process: subprocess.Popen, grace: float = GRACE_SECONDS) -> int:
    """Stop ``process`` (started with ``start_new_session``) and everything in its session (:func:`stop`);
    returns once they are gone and ``process`` is reaped. ``grace`` 0 SIGKILLs them all at once."""
    killed = stop(session(process.pid), grace)
    process.wait()
    return killed


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def owning(grace: float = GRACE_SECONDS, say: Callable[[str], Any] = print) -> Generator[None]:
    """Run the block owning every process it starts (module docstring); everything is stopped on exit.

    Ctrl-C, SIGTERM and SIGHUP (the terminal closed) propagate out of the block as ``KeyboardInterrupt``
    (``Terminated`` for the other two), after the teardown; :func:`run` turns them into the command's exit code.
    """
    become_subreaper()
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        ignore_stops()
        try:
            stop_descendants(grace, say)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(main: Callable[[], int], grace: float = GRACE_SECONDS) -> int:
    """``main()`` under :func:`owning`; its exit code, or 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP."""
    try:
        with owning(grace):
            return main()
    except KeyboardInterrupt as stop:
        how = "Ctrl-C" if stopped_by(stop) == signal.SIGINT else stopped_by(stop).name
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print(f"stopped ({how}); nothing it started is left running", flush=True)
        return exit_code(stop)
