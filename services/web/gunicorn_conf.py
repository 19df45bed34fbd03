"""Gunicorn settings, from the same environment as the application."""

from services.core.config import settings

_s = settings()
bind = f"{_s.bind_host}:{_s.web_port}"
workers = _s.web_workers
# Threads overlap the waits on MongoDB and on publisher confirms, and the submits waiting at once
# share one group commit: 16 rather than 4 about doubled POST /jobs at 64 connections (2 cores).
worker_class = "gthread"
threads = 16
reload = _s.web_reload
# No access log: formatting and writing a line per request cost as much CPU as a refused request's
# whole Flask handling. GUNICORN_CMD_ARGS="--access-logfile -" turns it back on.
accesslog = None
loglevel = _s.log_level.lower()
graceful_timeout = 10
