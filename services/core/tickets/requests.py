"""What clients may send for agents and tickets, validated before anything is stored."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from services.core.jsonfield import Integer
from services.core.tickets.states import AgentStatus, Channel

Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Skills = Annotated[list[Skill], Field(max_length=50)]
MAX_CAPACITY = 50
DEFAULT_PRIORITY = 5
AUTO_ACCEPT = "false: each ticket is first offered (reserved) until the agent accepts it"


class _Strict(BaseModel):
    # Integers are strict field by field (`true` is no capacity); a model-wide strict mode would
    # also refuse the enums' plain string values.
    model_config = ConfigDict(extra="forbid")


class ChannelCapacity(_Strict):
    capacity: Integer = Field(ge=0, le=MAX_CAPACITY)


class Channels(_Strict):
    voice: ChannelCapacity | None = None
    text: ChannelCapacity | None = None

    def capacities(self) -> dict[str, int]:
        return {
            channel.value: given.capacity
            for channel in Channel
            if (given := getattr(self, channel.value)) is not None
        }


class AgentRequest(_Strict):
    name: str = Field(min_length=1, max_length=200)
    skills: Skills = Field(default_factory=list)
    channels: Channels
    status: AgentStatus = AgentStatus.AVAILABLE
    auto_accept: bool = Field(True, strict=True, description=AUTO_ACCEPT)


class AgentPatch(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    skills: Skills | None = None
    channels: Channels | None = None
    status: AgentStatus | None = None
    auto_accept: bool | None = Field(None, strict=True, description=AUTO_ACCEPT)


class TicketRequest(_Strict):
    channel: Channel
    skills: Skills = Field(default_factory=list)
    priority: Integer = Field(default=DEFAULT_PRIORITY, ge=0, le=9, description="9 is served first")
    data: JsonValue = None
