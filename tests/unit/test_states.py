import random

import pytest

from services.core.jobs.states import backoff_delay


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_backoff_grows_exponentially_within_jitter(attempt: int) -> None:
    rand = random.Random(attempt)
    ceiling = 2.0 ** (attempt - 1)
    for _ in range(50):
        delay = backoff_delay(attempt, base=1.0, cap=100.0, rand=rand)
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_capped_and_jittered() -> None:
    rand = random.Random(7)
    delays = {backoff_delay(30, base=1.0, cap=10.0, rand=rand) for _ in range(20)}
    assert all(5.0 <= d <= 10.0 for d in delays)
    assert len(delays) > 1
