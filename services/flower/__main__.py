"""Entry point of Flower, served under /flower/ behind Nginx."""

import os
import sys

from services.core.config import settings

s = settings()
args = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "services.core.celery_app",
    "flower",
    f"--address={s.bind_host}",
    f"--port={s.flower_port}",
    "--url_prefix=flower",
    f"--broker_api={s.rabbitmq_management_url}",
    "--persistent=False",
]
if s.flower_basic_auth:
    args.append(f"--basic_auth={s.flower_basic_auth}")
else:
    # No login configured (the local stack, on loopback only): let the API answer too.
    os.environ.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
os.execvp(sys.executable, args)
