"""A hold: one unit of an agent's capacity, taken for one ticket.

An agent's `holds` array has one string per unit in use, so its counters and the units behind
them change in the same single-document update. Each reservation gets a fresh token: a release
names the exact hold it undoes, so it happens at most once however many processes try it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

SEPARATOR = "|"


@dataclass(frozen=True)
class Hold:
    ticket_id: str
    channel: str
    taken_at_ms: int
    token: str

    def __str__(self) -> str:
        return SEPARATOR.join((self.ticket_id, self.channel, str(self.taken_at_ms), self.token))

    @property
    def taken_at(self) -> datetime:
        return datetime.fromtimestamp(self.taken_at_ms / 1000, UTC)


def new_hold(ticket_id: str, channel: str, now: datetime) -> Hold:
    return Hold(ticket_id, channel, int(now.timestamp() * 1000), secrets.token_hex(6))


def parse_hold(text: str) -> Hold:
    ticket_id, channel, taken_at_ms, token = text.split(SEPARATOR)
    return Hold(ticket_id, channel, int(taken_at_ms), token)
