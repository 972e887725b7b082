"""Which servers listen where: every listening TCP socket of the processes the tests started, and the rule
that they listen on the loopback interface only (the project's servers are for one person or one test).

The one exception is Airflow's log server (``airflow serve-logs``, started by the scheduler, the triggerer and
each Celery worker): Airflow 3.3 binds it to every interface with no setting to change it
(``airflow/utils/serve_logs/core.py``); it answers only requests carrying a JWT signed with the deployment's
secret key (RELIABILITY.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import psutil

from tests.support.sampling import Sampling

LOG_SERVER = "airflow serve-logs"  # its process title (setproctitle)
# The same as the kernel's process name, cut to 15 characters: what psutil gives when the command line cannot be
# read (a process starting or ending; seen once while the Celery demo's worker was killed).
LOG_SERVER_NAME = LOG_SERVER[:15]


@dataclass(frozen=True)
class Listener:
    pid: int
    command: str
    ip: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.ip.removeprefix("::ffff:")).is_loopback


def listeners(since: float) -> set[Listener]:
    """Every listening TCP socket on the machine whose process started at or after ``since`` (epoch s): the
    processes a test or a command started, however they were detached (a daemon reparented to init, a
    ``start_new_session`` child, a setproctitle'd worker), and no service that was already running."""
    found = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or conn.pid is None:
            continue
        try:
            proc = psutil.Process(conn.pid)
            if proc.create_time() < since - 1:  # create_time has a clock tick's resolution
                continue
            command = " ".join(proc.cmdline()) or proc.name()
        except psutil.Error:
            continue  # gone meanwhile
        found.add(Listener(conn.pid, command[:160], conn.laddr.ip, conn.laddr.port))
    return found


def _is_log_server(command: str) -> bool:
    return command.startswith(LOG_SERVER) or command == LOG_SERVER_NAME


def exposed(found: set[Listener]) -> list[Listener]:
    """The listeners reachable from the network: on a non-loopback address, other than Airflow's log servers."""
    return sorted(
        (item for item in found if not item.loopback and not _is_log_server(item.command)),
        key=lambda item: (item.port, item.pid),
    )


class Watch(Sampling):
    """Samples :func:`listeners` every ``interval`` s while it runs (``with Watch(since) as watch: ...``); then
    ``watch.seen`` holds every listener seen."""

    def __init__(self, since: float, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.since = since
        self.seen: set[Listener] = set()

    def sample(self) -> None:
        self.seen |= listeners(self.since)


__all__ = ["LOG_SERVER", "Listener", "Watch", "exposed", "listeners"]
