"""`python -m tools.localstack`: the whole topology as local processes, in the foreground."""

import os
import sys

from tools.localstack.stack import LocalStack, port_open, run_in_foreground
from tools.localstack.topology import StackConfig

amqp_port = 5672
reuse_rabbitmq = port_open(amqp_port)
config = StackConfig(
    http_port=int(os.environ.get("HTTP_PORT", 8080)),
    workers=int(os.environ.get("WORKERS", 2)),
    ticket_workers=int(os.environ.get("TICKET_WORKERS", 1)),
    start_rabbitmq=not reuse_rabbitmq,
    start_epmd=not port_open(4369),
    database=os.environ.get("MONGOD_BIN", ""),
    admin_key=os.environ.get("SWITCHBOARD_ADMIN_KEY", ""),
)
print(
    "Switchboard: local process stack under supervisord"
    + (" (reusing the RabbitMQ already on :5672)" if reuse_rabbitmq else ""),
    flush=True,
)
sys.exit(run_in_foreground(LocalStack(config)))
