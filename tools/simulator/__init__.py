"""A traffic simulator for the ticket API: agents, a stream of tickets, handle times, a report."""
