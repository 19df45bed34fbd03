"""Entry point of Flower, served under /flower/ behind Nginx, always behind a login."""

import os
import sys

from services.core.config import settings
from services.core.process import exec_celery


def main() -> None:
    s = settings()
    if not s.flower_basic_auth:
        # Without a login Flower's pages (and, with FLOWER_UNAUTHENTICATED_API, its write API)
        # are open to anyone who reaches its port: refuse to start instead.
        sys.exit("flower: FLOWER_BASIC_AUTH (user:password) is required")
    # Flower reads FLOWER_<option> variables itself: FLOWER_BASIC_AUTH is already set, and the
    # management URL, which carries a password, goes the same way, so neither is on the command
    # line.
    os.environ["FLOWER_BROKER_API"] = s.rabbitmq_management_url
    os.environ.pop("FLOWER_UNAUTHENTICATED_API", None)
    exec_celery(
        "flower",
        f"--address={s.bind_host}",
        f"--port={s.flower_port}",
        "--url_prefix=flower",
        "--persistent=False",
    )


if __name__ == "__main__":
    main()
