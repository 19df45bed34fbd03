"""Entry point of Flower, served under /flower/ behind Nginx."""

import os

from services.core.config import settings
from services.core.process import exec_celery

s = settings()
auth = [f"--basic_auth={s.flower_basic_auth}"] if s.flower_basic_auth else []
if not auth:
    # No login configured (the local stack, on loopback only): let the API answer too.
    os.environ.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
exec_celery(
    "flower",
    f"--address={s.bind_host}",
    f"--port={s.flower_port}",
    "--url_prefix=flower",
    f"--broker_api={s.rabbitmq_management_url}",
    "--persistent=False",
    *auth,
)
