"""A background thread that samples something while a ``with`` block runs: shared by the followers of a
process tree (:mod:`tests.support.process_tree`) and of listening sockets (:mod:`tests.support.listeners`)."""

from __future__ import annotations

import threading
from typing import Self


class Sampling(threading.Thread):
    """Calls :meth:`sample` every ``interval`` seconds from ``with`` until the block ends, and once more then."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self._done = threading.Event()

    def sample(self) -> None:
        """One observation, added to what the subclass has seen."""
        raise NotImplementedError

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()
        self.sample()
