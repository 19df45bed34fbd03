"""Entry point of a web replica: Gunicorn serving the Flask app."""

import os
import sys

os.execvp(
    sys.executable,
    [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:services.web.gunicorn_conf",
        "services.web.wsgi:app",
    ],
)
