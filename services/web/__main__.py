"""Entry point of a web replica: an admin key made sure of, then Gunicorn serving the Flask app."""

import time
from pathlib import Path

from pymongo.errors import ConnectionFailure

from services.core import db
from services.core.apikeys import KeyStore
from services.core.config import settings
from services.core.process import exec_module

# The database may still be starting beside this replica; serve anyway after this long.
ADMIN_KEY_PATIENCE = 120.0


def ensure_admin_key() -> None:
    s = settings()
    deadline = time.monotonic() + ADMIN_KEY_PATIENCE
    while True:
        try:
            store = db.store_on(db.database(), KeyStore)
            print(f"web: {store.ensure_admin(s.admin_key, Path(s.data_dir))}", flush=True)
            return
        except ConnectionFailure as exc:
            if time.monotonic() > deadline:
                print(f"web: could not make sure of an admin key: {exc}", flush=True)
                return
            time.sleep(1)


ensure_admin_key()
exec_module("gunicorn", "-c", "python:services.web.gunicorn_conf", "services.web.wsgi:app")
