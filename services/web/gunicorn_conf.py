"""Gunicorn settings, from the same environment as the application."""

from services.core.config import settings

_s = settings()
bind = f"{_s.bind_host}:{_s.web_port}"
workers = _s.web_workers
# Threads overlap the waits on MongoDB and on publisher confirms, and the submits waiting at once
# share one group commit: 16 rather than 4 about doubled POST /jobs at 64 connections (2 cores).
worker_class = "gthread"
threads = _s.web_threads
reload = _s.web_reload
# No access log: formatting and writing a line per request, and supervisord copying it, cost about
# a fifth of a refused request's CPU. GUNICORN_CMD_ARGS="--access-logfile -" turns it back on.
accesslog = None
loglevel = _s.log_level.lower()
graceful_timeout = 10
# Nginx keeps its upstream connections open for 60 s (nginx/switchboard.conf.template); closing
# them sooner, as Gunicorn's default of 2 s does, races a request Nginx is sending on one, and a
# POST lost that way is a 502 (Nginx never resends a non-idempotent request).
keepalive = 75
# Nginx, the only way in, bounds request lines and headers and answers in JSON when they are too
# long; Gunicorn's own, tighter limits would answer what Nginx let through with an HTML page.
limit_request_line = 0
limit_request_field_size = 0
limit_request_fields = 32768
