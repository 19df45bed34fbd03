"""Typed jobs: their state machine, types, storage, dispatch and execution."""
