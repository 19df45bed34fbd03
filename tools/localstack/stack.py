"""Starting, watching and stopping a local stack through supervisord."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.core.apikeys import ADMIN_KEY_FILE, new_token
from tools.localstack.credentials import callback_secret, dashboard_secret, flower_login
from tools.localstack.topology import StackConfig, programs, rabbitmq_conf, supervisord_conf

# The ports of a developer's `make run-prod`, which a private stack must never take.
DEFAULT_PORTS = frozenset({8080, 8001, 8002, 5555, 27017, 5672, 15672, 4369})


# Short clocks for private stacks, so retries, heartbeats, the relay and sweeps happen within a
# test or a drill rather than within minutes.
FAST_CLOCKS = {
    "RETRY_BACKOFF_BASE": "0.2",
    "RETRY_BACKOFF_MAX": "1",
    "HEARTBEAT_INTERVAL": "0.5",
    "STALE_AFTER": "5",
    "OUTBOX_GRACE": "2",
    "SWEEP_INTERVAL": "2",
}


def free_ports(count: int) -> list[int]:
    """Free ports below 40000: RabbitMQ's distribution port is its AMQP port + 20000."""
    found: list[int] = []
    while len(found) < count:
        port = random.randint(20000, 39999)
        if port in found or port in DEFAULT_PORTS or port + 20000 in DEFAULT_PORTS:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
    return found


def private_config(data_dir: Path, name: str, **fields: Any) -> StackConfig:
    """A whole stack of its own on free ports, for tests, benchmarks and drills."""
    http, web1, web2, flower, mongo, amqp, management, epmd = free_ports(8)
    return StackConfig(
        data_dir=data_dir,
        http_port=http,
        web_ports=(web1, web2),
        flower_port=flower,
        mongo_port=mongo,
        amqp_port=amqp,
        management_port=management,
        epmd_port=epmd,
        rabbitmq_node=f"{name}{amqp}",
        mongo_db=f"switchboard_{name}",
        quiet=True,
        admin_key=new_token(),
        **fields,
    )


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.conf_path = config.data_dir / "run" / "supervisord.conf"
        self.process: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        c = self.config
        for sub in ("run", "logs", "rabbitmq", "nginx", "mongodb", "beat"):
            (c.data_dir / sub).mkdir(parents=True, exist_ok=True)
        (c.data_dir / "rabbitmq" / "rabbitmq.conf").write_text(rabbitmq_conf(c))
        (c.data_dir / "rabbitmq" / "enabled_plugins").write_text("[rabbitmq_management].\n")
        # It names Flower's credentials in its programs' environment: owner-only, like them.
        self.conf_path.touch(mode=0o600)
        self.conf_path.chmod(0o600)
        # Callbacks and dashboard sessions are signed with keys of this stack's own unless given.
        signing = {
            "CALLBACK_SECRET": callback_secret(c.data_dir),
            "DASHBOARD_SECRET": dashboard_secret(c.data_dir),
            **c.extra_env,
        }
        c = replace(c, extra_env=signing)
        self.conf_path.write_text(supervisord_conf(c, programs(c, flower_login(c.data_dir))))

    def start(self) -> None:
        self.prepare()
        supervisord = Path(self.config.python).parent / "supervisord"
        # A session of its own: Ctrl-C reaches the runner, which stops supervisord in order.
        self.process = subprocess.Popen(
            [str(supervisord), "-c", str(self.conf_path)], start_new_session=True
        )

    @property
    def admin_key_file(self) -> Path:
        return self.config.data_dir / ADMIN_KEY_FILE

    def api_key(self) -> str:
        """The stack's admin key: the one it was given, or the one its first start made."""
        if self.config.admin_key:
            return self.config.admin_key
        try:
            return self.admin_key_file.read_text().strip()
        except FileNotFoundError:
            return ""

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key()}"}

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(self.config.base_url + "/health", timeout=3) as response:
                return dict(json.load(response))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            if self.health() is not None and self.workers_online() > 0:
                return True
            time.sleep(1)
        return False

    def workers_online(self) -> int:
        request = urllib.request.Request(self.config.base_url + "/stats", headers=self.auth())
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(json.load(response)["workers_online"])
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return 0

    def ctl(self, *args: str) -> str:
        supervisorctl = Path(self.config.python).parent / "supervisorctl"
        done = subprocess.run(
            [str(supervisorctl), "-c", str(self.conf_path), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout + done.stderr

    def restart_with(self, env: dict[str, str], timeout: float = 180) -> bool:
        """Give every Switchboard program `env` as well and restart them: supervisord rereads
        its configuration and restarts the programs whose environment changed. Whether the
        stack answered again within `timeout`."""
        self.config = replace(self.config, extra_env={**self.config.extra_env, **env})
        self.prepare()
        self.ctl("reread")
        self.ctl("update")
        return self.wait_healthy(timeout)

    def stop(self, timeout: float = 90) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()


def run_in_foreground(stack: LocalStack, startup_timeout: float = 180) -> int:
    """Start the stack, report when it answers, and stop it all on Ctrl-C or SIGTERM."""

    def _stop(signum: int, _frame: object) -> None:
        # Only pass the signal on: supervisord stops its programs in order and exits, and the
        # main thread, waiting on it, then returns. (Waiting here too would deadlock with it.)
        print(f"\nSwitchboard: stopping ({signal.Signals(signum).name})…", flush=True)
        if stack.process is not None and stack.process.poll() is None:
            stack.process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stack.start()
    c = stack.config
    if stack.wait_healthy(startup_timeout):
        print(
            f"Switchboard is up: API {c.base_url}  Flower {c.base_url}/flower/  "
            f"docs {c.base_url}/docs  logs {c.data_dir / 'logs'}  (Ctrl-C stops it all)",
            flush=True,
        )
        where = "SWITCHBOARD_ADMIN_KEY" if c.admin_key else str(stack.admin_key_file)
        print(f"Switchboard: the admin API key is in {where}", flush=True)
    elif stack.process is not None and stack.process.poll() is None:
        print(
            f"Switchboard: not healthy after {startup_timeout:.0f}s; see {c.data_dir / 'logs'}",
            flush=True,
        )
    return stack.wait()
