"""Fault drills: break one part under load, heal it, audit that nothing was lost."""
