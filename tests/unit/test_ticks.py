"""One thread ticking for many blocks, each at its own interval, only while its block runs."""

import threading
import time

from services.core.ticker import Ticks

WAIT = 10.0  # bounds a broken run only


def test_each_block_ticks_at_its_own_interval_until_it_ends() -> None:
    ticks = Ticks()
    slow_calls: list[float] = []
    fast_ticked = threading.Event()
    fast_calls: list[float] = []

    def fast() -> None:
        fast_calls.append(time.monotonic())
        if len(fast_calls) >= 3:
            fast_ticked.set()

    with ticks.ticking(lambda: slow_calls.append(time.monotonic()), 3600):
        time.sleep(0.05)  # the thread is now waiting an hour for the slow block
        # Registered after a block that sleeps an hour, the fast one must still wake the thread.
        with ticks.ticking(fast, 0.01):
            assert fast_ticked.wait(WAIT)
        ended_with = len(fast_calls)
        time.sleep(0.1)
        assert len(fast_calls) == ended_with  # no tick once its block has ended
    assert slow_calls == []
    assert len({t.name for t in threading.enumerate() if t.name == "ticks"}) == 1
