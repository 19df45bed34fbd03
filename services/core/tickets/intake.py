"""Taking a client's ticket: record it, put its assignment on the broker, withdraw it if that fails.

The ticket is recorded before it is published, so the worker that takes the message finds it.
A client told 503 tries again, so a ticket whose publish failed must not be served as well: it
is withdrawn (cancelled) unless a sweep assigned it meanwhile, and then it is accepted after all.
"""

from __future__ import annotations

from services.core.errors import BrokerUnavailable
from services.core.tickets import assignment, dispatch
from services.core.tickets.requests import TicketRequest
from services.core.tickets.store import Doc, TicketStore, new_ticket


def submit(store: TicketStore, request: TicketRequest) -> Doc:
    """Record a waiting ticket and publish its assignment; the ticket as the client should see it.

    Raises BrokerUnavailable with the ticket withdrawn, so a 503 leaves nothing to serve.
    """
    doc = new_ticket(request.channel.value, request.skills, request.priority, request.data)
    store.insert_ticket(doc)
    try:
        dispatch.publish_assign(doc["_id"], doc["priority"])
    except BrokerUnavailable:
        if assignment.withdraw(store, doc["_id"]):
            raise
        # Tickets are never deleted, so the read finds it: assigned by a sweep.
        return store.get_ticket(doc["_id"]) or doc
    return doc
