"""Tickets and agents: skills-based assignment of customer contacts to human agents (ACD)."""
