"""Gunicorn's fixed settings; those from the environment (bind, workers, threads, reload, log
level) are on the command line `services.web.__main__` builds from the settings."""

# Threads (--threads): a request's waits on MongoDB and the broker overlap the others'.
worker_class = "gthread"
# No access log: formatting and writing a line per request, and supervisord copying it, cost about
# a fifth of a refused request's CPU. GUNICORN_CMD_ARGS="--access-logfile -" turns it back on.
accesslog = None
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
