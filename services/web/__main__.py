"""Entry point of a web replica: Gunicorn serving the Flask app."""

from services.core.process import exec_module

exec_module("gunicorn", "-c", "python:services.web.gunicorn_conf", "services.web.wsgi:app")
