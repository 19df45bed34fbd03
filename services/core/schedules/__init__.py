"""Recurring jobs: schedules stored in MongoDB, each firing once per tick as a normal job."""
