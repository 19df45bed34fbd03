"""Pure rules: eligibility, strategies, waiting order, holds, statistics."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.core.config import Settings
from services.core.tickets import matching, stats
from services.core.tickets.holds import new_hold, parse_hold
from services.core.tickets.matching import Strategy

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def agent(id_, skills=(), status="available", free_voice=1, free_text=1, idle=0, active=0, total=0):
    return {
        "_id": id_,
        "skills": list(skills),
        "status": status,
        "free_voice": free_voice,
        "free_text": free_text,
        "active_voice": active,
        "active_text": active,
        "assigned_total": total,
        "last_freed_at": T0 + timedelta(seconds=idle),
    }


def ticket(id_, channel="voice", priority=5, age=0, skills=()):
    return {
        "_id": id_,
        "channel": channel,
        "priority": priority,
        "rank": matching.channel_rank(channel),
        "created_at": T0 + timedelta(seconds=age),
        "skills": list(skills),
    }


def test_unknown_strategy_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSIGNMENT_STRATEGY", "least_busy")
    assert Settings().assignment_strategy is Strategy.LEAST_BUSY
    monkeypatch.setenv("ASSIGNMENT_STRATEGY", "round_robin")
    with pytest.raises(ValidationError, match="longest_idle"):
        Settings()


@pytest.mark.parametrize(
    ("a", "channel", "skills", "eligible"),
    [
        (agent("a", ["en", "billing"]), "voice", ["en"], True),
        (agent("a", ["en"]), "voice", ["en", "billing"], False),
        (agent("a", []), "text", [], True),
        (agent("a", ["en"], status="away"), "voice", ["en"], False),
        (agent("a", ["en"], status="offline"), "voice", [], False),
        (agent("a", ["en"], free_voice=0), "voice", ["en"], False),
        (agent("a", ["en"], free_voice=0), "text", ["en"], True),
    ],
)
def test_eligibility(a, channel, skills, eligible):
    assert matching.is_eligible(a, channel, skills) is eligible


def test_no_skills_means_no_skills_clause():
    assert "skills" not in matching.eligible_filter("voice", [])
    assert matching.eligible_filter("text", ["b", "a", "a"])["skills"] == {"$all": ["a", "b"]}


def best(agents, strategy, channel):
    return min(agents, key=matching.agent_key(strategy, channel))["_id"]


def test_longest_idle_puts_the_agent_freed_longest_ago_first():
    agents = [agent("a", idle=30), agent("b", idle=10), agent("c", idle=20)]
    assert best(agents, Strategy.LONGEST_IDLE, "voice") == "b"


def test_least_busy_puts_fewest_active_then_fewest_assigned_first():
    agents = [
        agent("a", active=1, total=0),
        agent("b", active=0, total=9),
        agent("c", active=0, total=2),
    ]
    assert best(agents, Strategy.LEAST_BUSY, "text") == "c"


def test_waiting_order_priority_then_voice_then_age():
    tickets = [
        ticket("old-text", "text", priority=5, age=0),
        ticket("new-voice", "voice", priority=5, age=10),
        ticket("urgent-text", "text", priority=9, age=20),
        ticket("old-voice", "voice", priority=5, age=5),
        ticket("low-voice", "voice", priority=1, age=0),
    ]
    ordered = [t["_id"] for t in sorted(tickets, key=matching.waiting_key)]
    assert ordered == ["urgent-text", "old-voice", "new-voice", "old-text", "low-voice"]


def test_best_ticket_for_an_agent_respects_its_skills_and_free_channels():
    tickets = [
        ticket("fr", "voice", priority=9, skills=["fr"]),
        ticket("voice", "voice", priority=7, skills=["en"]),
        ticket("text", "text", priority=8),
    ]

    def best_for(a):
        found = matching.best_ticket(tickets, a)
        return None if found is None else found["_id"]

    assert best_for(agent("a", ["en"])) == "text"
    assert best_for(agent("a", ["en"], free_text=0)) == "voice"
    assert best_for(agent("a", [], free_text=0)) is None


def test_hold_round_trips_through_its_text():
    hold = new_hold("t1", "text", T0)
    again = parse_hold(str(hold))
    assert again == hold
    assert again.taken_at == T0
    assert new_hold("t1", "text", T0) != hold  # a fresh token each time


def test_percentiles_are_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert stats.percentile(values, 0.5) == 50
    assert stats.percentile(values, 0.9) == 90
    assert stats.percentile(values, 0.99) == 99
    assert stats.percentile([3.0], 0.99) == 3
    assert stats.percentile([], 0.5) is None


def test_summary_counts_the_queue_waits_and_occupancy():
    now = T0 + timedelta(minutes=10)
    queue = [ticket("w1", "voice", age=0), ticket("w2", "text", age=300)]
    assigned = [
        {
            "channel": "voice",
            "created_at": now - timedelta(seconds=10),
            "assigned_at": now - timedelta(seconds=8),
        },
        {
            "channel": "voice",
            "created_at": now - timedelta(seconds=200),
            "assigned_at": now - timedelta(seconds=100),
        },
        {
            "channel": "text",
            "created_at": now - timedelta(seconds=200),
            "assigned_at": now - timedelta(seconds=150),
        },
    ]
    abandoned = [{"channel": "voice", "created_at": now - timedelta(seconds=50)}]
    agents = [
        {
            "status": "available",
            "capacity_voice": 1,
            "active_voice": 1,
            "capacity_text": 3,
            "active_text": 1,
        },
        {
            "status": "offline",
            "capacity_voice": 1,
            "active_voice": 0,
            "capacity_text": 3,
            "active_text": 0,
        },
    ]
    window = stats.Window(600, assigned, abandoned)
    s = stats.summary(queue, window, agents, now, {"voice": 20, "text": 120})
    assert s["waiting"] == {"voice": 1, "text": 1, "total": 2}
    assert s["longest_wait_seconds"] == 600
    assert s["time_to_assign_seconds"]["p50"] == 50
    assert s["time_to_assign_seconds"]["p99"] == 100
    assert s["assignments_per_minute"]["last_minute"] == 1
    # Voice: one of two within 20 s; text: its one within 120 s.
    assert s["service_level"]["voice"] == {
        "sla_seconds": 20,
        "assigned": 2,
        "within_sla": 1,
        "ratio": 0.5,
    }
    assert s["service_level"]["text"]["ratio"] == 1.0
    assert s["abandoned"] == {
        "voice": {"count": 1, "ratio": round(1 / 3, 4)},
        "text": {"count": 0, "ratio": 0.0},
    }
    assert s["occupancy"]["voice"] == {"active": 1, "capacity": 1, "ratio": 1.0}
    assert s["occupancy"]["text"]["ratio"] == round(1 / 3, 4)
    assert s["agents"] == {"available": 1, "away": 0, "offline": 1}


def test_a_snapshot_read_that_takes_long_is_repeated_less_often():
    from services.core.tickets.candidates import READ_COST_RATIO, _Timed

    t = [0.0]
    timed = _Timed(max_age=0.25, now=lambda: t[0])

    def slow_read():
        t[0] += 0.1  # the read itself takes 100 ms
        return []

    assert timed.due()
    timed.read(slow_read)
    t[0] += 1.0
    assert not timed.due()  # 1 s < 20 x 100 ms
    t[0] += READ_COST_RATIO * 0.1
    assert timed.due()


def test_summary_rates_and_rounding_with_an_empty_queue():
    now = T0 + timedelta(minutes=10)
    assigned = [
        {
            "channel": "text",
            "created_at": now - timedelta(seconds=70 + wait),
            "assigned_at": now - timedelta(seconds=70),
        }
        for wait in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0123456)
    ]
    assigned[0]["assigned_at"] = now - timedelta(seconds=60)  # exactly a minute ago: counted
    window = stats.Window(180, assigned, [])
    s = stats.summary([], window, [], now, {})
    assert s["waiting"] == {"voice": 0, "text": 0, "total": 0}
    assert s["longest_wait_seconds"] == 0
    # A ticket made just after `now` was taken (by another process) has waited nothing yet.
    newer = [{"channel": "voice", "created_at": now + timedelta(seconds=0.1)}]
    assert stats.summary(newer, window, [], now, {})["longest_wait_seconds"] == 0
    # The first waited 11 s now; the ninth of ten is 10.0123456 s, given to three decimals.
    assert s["time_to_assign_seconds"]["p90"] == 10.012
    assert s["time_to_assign_seconds"]["p99"] == 11.0
    assert s["assignments_per_minute"] == {"last_minute": 1, "window_average": round(10 / 3, 2)}
