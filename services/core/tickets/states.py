"""Ticket and agent statuses, the channels, and the moves allowed between ticket statuses.

waiting → assigned → completed                (an agent that accepts automatically)
waiting → reserved → assigned → completed     (offered; the agent accepts)
reserved → waiting                            (rejected, or no answer in time)
waiting | reserved | assigned → cancelled
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    VOICE = "voice"
    TEXT = "text"


CHANNELS: tuple[Channel, ...] = (Channel.VOICE, Channel.TEXT)
# Voice outranks text at equal priority: a caller on the line cannot wait as long as a chat.
CHANNEL_RANK = {Channel.VOICE: 0, Channel.TEXT: 1}


class TicketStatus(StrEnum):
    WAITING = "waiting"
    RESERVED = "reserved"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


FINISHED = (TicketStatus.COMPLETED, TicketStatus.CANCELLED)
CANCELLABLE = (TicketStatus.WAITING, TicketStatus.RESERVED, TicketStatus.ASSIGNED)
# The statuses in which a ticket holds a unit of its agent's capacity.
HOLDING = (TicketStatus.RESERVED, TicketStatus.ASSIGNED)


class AgentStatus(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


def free_field(channel: str) -> str:
    return f"free_{channel}"


def active_field(channel: str) -> str:
    return f"active_{channel}"


def capacity_field(channel: str) -> str:
    return f"capacity_{channel}"
