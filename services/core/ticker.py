"""Calling something at a steady interval in the background while a block of code runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


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


class Ticks:
    """One thread that calls many ticks, each every its own interval while its block runs.

    `with ticks.ticking(tick, interval):` behaves like `with Ticker(tick, interval):` without
    starting and joining a thread per block: what a worker pays for every job's heartbeat.
    """

    def __init__(self) -> None:
        self._due: dict[int, tuple[float, float, Callable[[], None]]] = {}
        self._changed = threading.Condition()
        self._next_key = 0
        self._thread: threading.Thread | None = None

    @contextmanager
    def ticking(self, tick: Callable[[], None], interval: float) -> Iterator[None]:
        with self._changed:
            key = self._next_key
            self._next_key += 1
            self._due[key] = (time.monotonic() + interval, interval, tick)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ticks", daemon=True)
                self._thread.start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._due.pop(key, None)

    def _loop(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                ticks = []
                for key, (at, interval, tick) in self._due.items():
                    if at <= now:
                        self._due[key] = (now + interval, interval, tick)
                        ticks.append(tick)
                if not ticks:
                    soonest = min((at for at, _, _ in self._due.values()), default=now + 60)
                    self._changed.wait(soonest - now)
                    continue
            for tick in ticks:
                tick()
