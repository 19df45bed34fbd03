"""The RabbitMQ topology: priority queues, and a dead-letter queue for jobs out of tries."""

from __future__ import annotations

from kombu import Exchange, Queue

MAX_PRIORITY = 9
JOBS = "jobs"
TICKETS = "tickets"
MAINTENANCE = "maintenance"
DEAD_LETTER = "jobs.dead"

dead_letter_exchange = Exchange("switchboard.dead", type="fanout", durable=True)
work_exchange = Exchange("switchboard", type="direct", durable=True)


def _priority_queue(name: str, dead_letters: bool = False) -> Queue:
    arguments: dict[str, object] = {"x-max-priority": MAX_PRIORITY}
    if dead_letters:
        arguments["x-dead-letter-exchange"] = dead_letter_exchange.name
    return Queue(name, work_exchange, routing_key=name, durable=True, queue_arguments=arguments)


work_queues = (
    _priority_queue(JOBS, dead_letters=True),
    _priority_queue(TICKETS),
    _priority_queue(MAINTENANCE),
)
dead_letter_queue = Queue(DEAD_LETTER, dead_letter_exchange, durable=True)
all_queues = (*work_queues, dead_letter_queue)


def known(names: tuple[str, ...]) -> list[str]:
    """The names, checked against the work queues: a typo stops a worker at start."""
    valid = {q.name for q in work_queues}
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ValueError(f"WORKER_QUEUES: unknown {unknown or names}; known: {sorted(valid)}")
    return list(names)


def declare_all(channel: object) -> None:
    """Declare every queue and exchange; idempotent, so any process may do it at start."""
    for queue in all_queues:
        queue.bind(channel).declare()
