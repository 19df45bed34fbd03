"""How offers to agents behave: how long one waits for an answer, when silence sends the agent
away, and how long an agent who turned a ticket down is not offered it again."""

from __future__ import annotations

from dataclasses import dataclass

RESERVATION_TIMEOUT = 20.0
RESERVATION_MISSES_AWAY = 3
REJECT_COOLDOWN = 300.0


@dataclass(frozen=True)
class OfferPolicy:
    # Seconds an offer waits for the agent's answer before the ticket goes back to the queue.
    timeout: float = RESERVATION_TIMEOUT
    # Offers in a row left unanswered before the agent is marked `away`.
    misses_away: int = RESERVATION_MISSES_AWAY
    # Seconds an agent who rejected (or let time out) a ticket is not offered it again.
    cooldown: float = REJECT_COOLDOWN
