"""The invariant checker finds each kind of violation, and nothing in a healthy snapshot."""

from tools.oracles.ticket_invariants import check


def agent(id_, voice=(1, 0), text=(3, 0), tickets=(), skills=(), status="available", free=None):
    def ch(cap_active):
        cap, active = cap_active
        return {"capacity": cap, "active": active, "free": cap - active}

    doc = {
        "id": id_,
        "status": status,
        "skills": list(skills),
        "channels": {"voice": ch(voice), "text": ch(text)},
        "tickets": list(tickets),
    }
    if free is not None:
        doc["channels"]["voice"]["free"] = free
    return doc


def ticket(id_, status="assigned", agent_id=None, channel="voice", skills=()):
    return {
        "id": id_,
        "status": status,
        "agent_id": agent_id,
        "channel": channel,
        "skills": list(skills),
    }


def rules(found):
    return sorted({v.rule for v in found})


def test_a_healthy_snapshot_passes_settled():
    agents = [agent("a", voice=(1, 1), tickets=["t1"]), agent("b", voice=(1, 0), skills=["fr"])]
    tickets = [
        ticket("t1", agent_id="a"),
        ticket("t2", "waiting", skills=["de"]),
        ticket("t3", "completed", "b"),
    ]
    assert check(agents, tickets, settled=True) == []


def test_over_capacity_is_found():
    agents = [agent("a", voice=(1, 2), tickets=["t1", "t2"])]
    tickets = [ticket("t1", agent_id="a"), ticket("t2", agent_id="a")]
    assert "capacity" in rules(check(agents, tickets))


def test_counters_that_disagree_are_found():
    assert rules(
        check([agent("a", free=1, voice=(1, 1), tickets=["t1"])], [ticket("t1", agent_id="a")])
    ) == ["capacity"]
    assert rules(check([agent("a", voice=(1, 1))], [])) == ["capacity"]


def test_an_assigned_ticket_its_agent_does_not_hold_is_found():
    assert rules(check([agent("a")], [ticket("t1", agent_id="a")])) == ["single agent"]


def test_a_ticket_held_twice_is_found_once_settled():
    agents = [agent("a", voice=(1, 1), tickets=["t1"]), agent("b", voice=(1, 1), tickets=["t1"])]
    tickets = [ticket("t1", agent_id="a")]
    assert check(agents, tickets) == []  # a reservation in flight looks like this
    assert rules(check(agents, tickets, settled=True)) == ["single agent"]


def test_leaked_capacity_is_found_once_settled():
    agents = [agent("a", voice=(1, 1), tickets=["t1"])]
    assert rules(check(agents, [ticket("t1", "completed", "a")], settled=True)) == ["leak"]
    assert rules(check(agents, [], settled=True)) == ["leak"]


def test_a_stranded_ticket_is_found_once_settled():
    agents = [agent("a", skills=["en", "fr"]), agent("b", status="away", skills=["de"])]
    tickets = [ticket("t1", "waiting", skills=["fr"])]
    assert check(agents, tickets) == []
    assert rules(check(agents, tickets, settled=True)) == ["stranded"]
    assert check(agents, [ticket("t2", "waiting", skills=["de"])], settled=True) == []
