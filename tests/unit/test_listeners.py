"""The loopback check of the end-to-end tests (tests/support/listeners.py) sees a server open to the network."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from devtools import local_aws
from tests.support.listeners import LOG_SERVER, Listener, exposed, listeners


@pytest.fixture
def http_servers():
    """Two throwaway HTTP servers: one on every interface, one on 127.0.0.1; yields their ports."""
    since = time.time()
    ports = {"open": local_aws.free_port(), "private": local_aws.free_port()}
    procs = [
        subprocess.Popen([sys.executable, "-m", "http.server", "--bind", bind, str(ports[name])])
        for name, bind in (("open", "0.0.0.0"), ("private", "127.0.0.1"))
    ]
    try:
        deadline = time.monotonic() + 30
        while {s.port for s in listeners(since)} < set(ports.values()):
            assert time.monotonic() < deadline, "the HTTP servers did not start listening"
            time.sleep(0.1)
        yield since, ports
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_a_server_on_every_interface_is_exposed_and_one_on_loopback_is_not(http_servers):
    since, ports = http_servers

    found = {s for s in listeners(since) if s.port in ports.values()}

    assert {(s.port, s.loopback) for s in found} == {(ports["open"], False), (ports["private"], True)}
    assert [s.port for s in exposed(found)] == [ports["open"]]
    assert all("http.server" in s.command for s in found)


def test_only_airflows_log_server_may_listen_beyond_loopback():
    log_server = Listener(1, f"{LOG_SERVER}", "0.0.0.0", 8793)
    named = Listener(5, "airflow serve-l", "::", 8794)  # its command line unreadable: the kernel's name
    other = Listener(2, "airflow api-server", "::", 8080)
    local = Listener(3, "redis-server 127.0.0.1:6379", "127.0.0.1", 6379)
    mapped = Listener(4, "moto_server", "::ffff:127.0.0.1", 5000)
    cut = Listener(6, "airflow serve", "0.0.0.0", 8795)  # not the log server's name

    assert exposed({log_server, named, other, local, mapped, cut}) == [other, cut]


def test_processes_that_were_running_before_are_not_counted(http_servers):
    _since, ports = http_servers

    assert not {s.port for s in listeners(time.time() + 60)} & set(ports.values())
