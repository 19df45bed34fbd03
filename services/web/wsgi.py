"""The WSGI application Gunicorn serves."""

from services.web.app import create_app

app = create_app()
