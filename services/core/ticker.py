"""Calling something at a steady interval in the background while a block of code runs."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Ticker:
    """`with Ticker(tick, interval):` calls `tick` every `interval` seconds until the block ends."""

    def __init__(self, tick: Callable[[], None], interval: float, name: str = "ticker") -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()
