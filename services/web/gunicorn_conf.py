"""Gunicorn's fixed settings; those from the environment (bind, workers, threads, reload, log
level) are on the command line `services.web.__main__` builds from the settings."""

from typing import Any

from gunicorn.glogging import Logger
from pythonjsonlogger.json import JsonFormatter

from services.core.logs import FIELDS, NAMES


class JsonLogger(Logger):  # type: ignore[misc]
    """Gunicorn's own lines as JSON too, like the app's (services/core/logs.py). Not through
    `logconfig_dict`: that would turn the access log on, which costs CPU on every request."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(JsonFormatter(FIELDS, rename_fields=NAMES))


logger_class = JsonLogger

# Threads (--threads): a request's waits on MongoDB and the broker overlap the others'.
worker_class = "gthread"
# No access log: formatting and writing a line per request, and supervisord copying it, cost about
# a fifth of a refused request's CPU. GUNICORN_CMD_ARGS="--access-logfile -" turns it back on.
accesslog = None
graceful_timeout = 10
# The control socket's default path is one per user, so the replicas of one host would share it;
# nothing here uses it.
control_socket_disable = True
# Nginx keeps its upstream connections open for 60 s (nginx/switchboard.conf.template); closing
# them sooner, as Gunicorn's default of 2 s does, races a request Nginx is sending on one, and a
# POST lost that way is a 502 (Nginx never resends a non-idempotent request).
keepalive = 75
# Nginx, the only way in, bounds request lines and headers and answers in JSON when they are too
# long; Gunicorn's own, tighter limits would answer what Nginx let through with an HTML page.
limit_request_line = 0
limit_request_field_size = 0
limit_request_fields = 32768
