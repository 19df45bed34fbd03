"""Escalation: a ticket that waits too long for the skills it asks for asks for fewer.

Rules are per skill set (a queue): after waiting `after` seconds, a ticket requiring exactly
that set requires the rule's fallback skills instead (none: any agent), and the skills it asked
for become preferred (agents with them are tried first). Rules may chain (`billing+fr` →
`billing` → any agent), each measured from the ticket's creation; cycles are refused.

TICKET_ESCALATION, comma-separated: `<skills joined by +>=<seconds>[:<fallback joined by +>]`,
e.g. `billing=60:support,billing+fr=30:billing,vip=20`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from services.core.documents import Doc
from services.core.tickets.states import TicketStatus

if TYPE_CHECKING:  # the settings import these rules, and the store imports the settings
    from services.core.tickets.store import TicketStore


JOIN = "+"


@dataclass(frozen=True)
class Widening:
    after: float  # seconds waited since the ticket was created
    fallback: tuple[str, ...]  # the skills required instead; empty: any agent


Rules = Mapping[str, Widening]


def skill_set(skills: Iterable[str]) -> str:
    """A skill set's name in the rules: its skills, sorted, joined by `+`."""
    return JOIN.join(sorted(set(skills)))


def parse(text: str) -> dict[str, Widening]:
    """The rules in TICKET_ESCALATION's format; ValueError naming the first bad one."""
    rules: dict[str, Widening] = {}
    for item in (i.strip() for i in text.split(",")):
        if item:
            name, rule = _parse_rule(item)
            if name in rules:
                raise ValueError(f"TICKET_ESCALATION: skill set {name!r} given twice")
            rules[name] = rule
    check_acyclic(rules)
    return rules


def _parse_rule(item: str) -> tuple[str, Widening]:
    shape = "expected skills=seconds[:fallback], e.g. billing=60:support"
    skills, eq, rest = item.partition("=")
    seconds, _, fallback = rest.partition(":")
    names = _skills(skills)
    if not eq or not names:
        raise ValueError(f"TICKET_ESCALATION: {item!r}: {shape}")
    try:
        after = float(seconds)
    except ValueError:
        raise ValueError(f"TICKET_ESCALATION: {item!r}: {seconds!r} is not seconds") from None
    if not after > 0:
        raise ValueError(f"TICKET_ESCALATION: {item!r}: seconds must be > 0")
    wider = _skills(fallback)
    if set(wider) >= set(names):
        raise ValueError(f"TICKET_ESCALATION: {item!r}: the fallback must not include the set")
    return skill_set(names), Widening(after, wider)


def _skills(text: str) -> tuple[str, ...]:
    return tuple(sorted({s.strip() for s in text.split(JOIN) if s.strip()}))


def check_acyclic(rules: Rules) -> None:
    for start in rules:
        seen, name = {start}, skill_set(rules[start].fallback)
        while name in rules:
            if name in seen:
                raise ValueError(f"TICKET_ESCALATION: the rules from {start!r} loop")
            seen.add(name)
            name = skill_set(rules[name].fallback)


def due(rules: Rules, entry: Doc, now: datetime) -> Widening | None:
    """The rule that widens this waiting ticket (or its queue entry) now, if any."""
    rule = rules.get(skill_set(entry["skills"]))
    if rule is None or (now - entry["created_at"]).total_seconds() < rule.after:
        return None
    return rule


def widen_due(store: TicketStore, rules: Rules, entries: list[Doc], now: datetime) -> int:
    """Widen every waiting ticket whose rule is due; its queue entry (in `entries` too) follows.

    The ticket is widened first and its entry after, so a crash leaves an entry narrower than
    its ticket, which the next sweep brings in line."""
    widened = 0
    for entry in entries:
        rule = due(rules, entry, now)
        if rule is None:
            continue
        ticket = store.get_ticket(entry["_id"])
        if ticket is None or ticket["status"] != TicketStatus.WAITING:
            continue
        if ticket["skills"] == entry["skills"]:
            ticket = store.widen(ticket, rule.fallback) or ticket
            widened += ticket["skills"] != entry["skills"]
        entry["skills"] = ticket["skills"]
        store.set_entry_skills(ticket["_id"], ticket["skills"])
    return widened
