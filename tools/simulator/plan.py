"""What a simulation creates: agents with skills and capacities, and tickets they can serve."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

DEFAULT_SKILLS = ("en", "fr", "de", "billing", "tech", "sales")


@dataclass(frozen=True)
class Options:
    agents: int = 50
    tickets: int = 2000
    rate: float = 20.0  # new tickets per second
    handle: tuple[float, float] = (1.0, 6.0)  # seconds an agent spends on a ticket
    duration: float = 600.0  # seconds at most; what is left is then cancelled
    skills: tuple[str, ...] = DEFAULT_SKILLS
    threads: int = 16
    seed: int | None = None


def agent_body(rng: random.Random, index: int, skills: tuple[str, ...], run: str) -> dict[str, Any]:
    """Most agents take one call; some take only chats; chats come up to three at a time."""
    voice = 1 if rng.random() < 0.7 else 0
    text = rng.choice((1, 2, 3)) if voice == 0 or rng.random() < 0.8 else 0
    own = rng.sample(skills, k=rng.randint(1, min(3, len(skills)))) if skills else []
    return {
        "name": f"sim-{run}-{index}",
        "skills": own,
        "channels": {"voice": {"capacity": voice}, "text": {"capacity": text}},
        "status": "available",
    }


def ticket_body(
    rng: random.Random, agents: list[dict[str, Any]], index: int, run: str
) -> dict[str, Any]:
    """A ticket some agent can serve: a channel and a subset of the skills of a random agent."""
    agent = rng.choice(agents)
    channels = [c for c, v in agent["channels"].items() if v["capacity"] > 0]
    channel = rng.choice(channels)
    skills = rng.sample(agent["skills"], k=rng.randint(0, len(agent["skills"])))
    priority = rng.choices(range(10), weights=(1, 1, 2, 3, 4, 8, 4, 3, 2, 1))[0]
    return {
        "channel": channel,
        "skills": skills,
        "priority": priority,
        "data": {"simulation": run, "n": index},
    }
