"""Which processes make up a local stack, and how each is started (pure: no I/O)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from services.core import queues
from services.core.config import Settings

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path = REPO / ".data"
    http_port: int = 8080
    web_ports: tuple[int, ...] = (8001, 8002)
    # Job workers (the `jobs` queue); ticket workers have a pool of their own (`tickets`), so a
    # flood of long jobs never delays an assignment, and maintenance has its own worker.
    workers: int = 2
    ticket_workers: int = 1
    flower_port: int = 5555
    mongo_port: int = 27017
    mongo_db: str = "switchboard"
    amqp_port: int = 5672
    management_port: int = 15672
    rabbitmq_node: str = "switchboard"
    start_rabbitmq: bool = True
    # Erlang's port mapper, which RabbitMQ needs; started here unless one already runs.
    start_epmd: bool = True
    epmd_port: int = 4369
    python: str = str(REPO / ".venv" / "bin" / "python")
    # Keep supervisord's own log lines off the terminal (the tests' output).
    quiet: bool = False
    # The MongoDB-wire server's binary: mongod, secantusd-rs or ferretdb, told apart by name;
    # empty for the default (`default_database`).
    database: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    # Nginx's per-client limits. Every client of a local stack is this machine (127.0.0.1): the
    # benchmarks post at concurrency 64 and up to a few thousand requests a second, and the
    # simulator drives its agents from here too, so these only stop a runaway loop.
    rate_limit: str = "10000r/s"
    rate_burst: int = 20000
    conn_limit: int = 1024
    # How Nginx opens /flower/ (nginx/entrypoint.sh, NGINX_FLOWER_AUTH): `flower` asks for
    # Flower's internal credentials (in `credentials.flower_login_path`); `api-key` checks an
    # admin API key with the web replicas (GET /auth/flower) and hands Flower those credentials.
    flower_auth: str = "api-key"
    # The admin API key the web replicas store at start; empty: the first start makes one and
    # writes it to data_dir/admin-key (`LocalStack.api_key` reads either).
    admin_key: str = field(default="", repr=False)

    @property
    def broker_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}//"

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}/api/"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def worker_concurrency(self) -> int:
        """Pool processes per job worker: the stack's own setting, else what the workers read."""
        own = self.extra_env.get("WORKER_CONCURRENCY") or os.environ.get("WORKER_CONCURRENCY")
        return int(own) if own else Settings().worker_concurrency

    @property
    def job_slots(self) -> int:
        """How many jobs the stack's job workers run at once."""
        return self.workers * self.worker_concurrency


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # supervisord starts lower priorities first and stops them last.
    priority: int = 500
    stop_signal: str = "TERM"
    stop_wait: int = 15


def app_env(c: StackConfig) -> dict[str, str]:
    """What every Switchboard process of this stack is told."""
    return {
        "MONGO_URL": c.mongo_url,
        "MONGO_DB": c.mongo_db,
        "BROKER_URL": c.broker_url,
        "RABBITMQ_MANAGEMENT_URL": c.management_url,
        "DATA_DIR": str(c.data_dir),
        "FLOWER_PORT": str(c.flower_port),
        "BIND_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        **({"SWITCHBOARD_ADMIN_KEY": c.admin_key} if c.admin_key else {}),
        **c.extra_env,
    }


def default_database() -> str:
    """A real mongod on PATH, else the secantusd-rs that scripts/install.sh builds."""
    tools = Path(os.environ.get("SWITCHBOARD_TOOLS", Path.home() / ".cache" / "switchboard"))
    return (
        shutil.which("mongod")
        or shutil.which("secantusd-rs")
        or str(tools / "bin" / "secantusd-rs")
    )


def database_program(c: StackConfig) -> Program:
    """The MongoDB-wire server, with the flags its kind takes, on loopback only."""
    binary = c.database or default_database()
    path = c.data_dir / "mongodb"
    name = Path(binary).name
    env: dict[str, str] = {}
    if name == "mongod":
        command = [binary, "--dbpath", str(path), "--bind_ip", "127.0.0.1"]
        command += ["--port", str(c.mongo_port)]
    elif name.startswith("ferretdb"):  # for comparisons: `python -m bench.run --database PATH`
        command = [
            binary,
            "--handler=sqlite",
            f"--sqlite-url=file:{path}/",
            f"--state-dir={path}",
            f"--listen-addr=127.0.0.1:{c.mongo_port}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ]
    else:
        command = [
            binary,
            "--host=127.0.0.1",
            f"--port={c.mongo_port}",
            f"--storage-path={path}",
            # Drivers then see a plain server, not a one-node replica set.
            "--standalone",
            # WiredTiger's cache; its default (4G) is sized for a machine of its own.
            "--cache-size=512M",
            "--log-level=WARNING",
        ]
        # The oplog only serves change streams, which Switchboard does not use; without it
        # every write is cheaper. Data tables stay journalled: kill -9 loses nothing acknowledged.
        env["SECANTUS_DISABLE_OPLOG"] = "1"
    return Program("mongodb", command, env, priority=10)


def rabbitmq_program(c: StackConfig) -> Program:
    base = c.data_dir / "rabbitmq"
    env = {
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_NODENAME": f"{c.rabbitmq_node}@localhost",
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "ERL_EPMD_PORT": str(c.epmd_port),
        # RabbitMQ's boot checks this port before it reads rabbitmq.conf, defaulting to
        # 25672: without it a second stack fails to boot while another node holds that port.
        "RABBITMQ_DIST_PORT": str(c.amqp_port + 20000),
        # epmd, when the node has to start one itself, and the CLI tools' lookups: loopback only.
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        # Erlang writes a crash dump into its working directory, the repository, by default.
        "ERL_CRASH_DUMP": str(base / "erl_crash.dump"),
    }
    return Program(
        "rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], env, priority=10, stop_wait=30
    )


def rabbitmq_conf(c: StackConfig) -> str:
    return "\n".join(
        [
            f"listeners.tcp.default = 127.0.0.1:{c.amqp_port}",
            f"management.tcp.port = {c.management_port}",
            "management.tcp.ip = 127.0.0.1",
            # Erlang's distribution port is the AMQP port + 20000; keep two nodes apart.
            f"distribution.listener.port_range.min = {c.amqp_port + 20000}",
            f"distribution.listener.port_range.max = {c.amqp_port + 20000}",
            "distribution.listener.interface = 127.0.0.1",
            "",
        ]
    )


def worker_program(
    c: StackConfig, name: str, queue: str, env: dict[str, str], concurrency: str | None = None
) -> Program:
    """A Celery worker consuming one queue; its node name is the program's own."""
    own = {"WORKER_NAME": f"{name}@%h", "WORKER_QUEUES": queue}
    if concurrency is not None:
        own["WORKER_CONCURRENCY"] = concurrency
    return Program(name, [c.python, "-m", "services.worker"], {**env, **own}, stop_wait=30)


def programs(c: StackConfig, flower_login: str) -> list[Program]:
    """Every process of the stack; `flower_login` is Flower's internal `user:password`."""
    env = app_env(c)
    py = c.python
    listed = [database_program(c)]
    if c.start_rabbitmq and c.start_epmd:
        # Supervised here, or RabbitMQ would leave a daemonised epmd behind when stopped.
        listed.append(
            Program(
                "epmd", ["epmd", "-address", "127.0.0.1", "-port", str(c.epmd_port)], priority=5
            )
        )
    if c.start_rabbitmq:
        listed.append(rabbitmq_program(c))
    listed += [
        Program(f"web-{i}", [py, "-m", "services.web"], {**env, "WEB_PORT": str(port)})
        for i, port in enumerate(c.web_ports, start=1)
    ]
    # One pool per queue, each scaled on its own: no kind of work can take another's turn.
    listed += [worker_program(c, f"worker-{i}", queues.JOBS, env) for i in range(1, c.workers + 1)]
    listed += [
        worker_program(c, f"ticket-worker-{i}", queues.TICKETS, env)
        for i in range(1, c.ticket_workers + 1)
    ]
    # Its tasks are single-flight: a second pool process would only wait.
    listed.append(worker_program(c, "maintenance", queues.MAINTENANCE, env, concurrency="1"))
    listed.append(Program("beat", [py, "-m", "services.beat"], env))
    # The credentials reach Flower and Nginx through their environment, never a command line.
    listed.append(
        Program("flower", [py, "-m", "services.flower"], {**env, "FLOWER_BASIC_AUTH": flower_login})
    )
    nginx_env = {
        "HTTP_PORT": str(c.http_port),
        "NGINX_LISTEN": f"127.0.0.1:{c.http_port}",
        # A replica refused while starting is tried again after 2 s, not Nginx's default 10.
        "WEB_UPSTREAM_SERVERS": " ".join(
            f"server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in c.web_ports
        ),
        "FLOWER_UPSTREAM": f"127.0.0.1:{c.flower_port}",
        "MAX_BODY_BYTES": env.get("MAX_BODY_BYTES", "1048576"),
        "NGINX_RUN_DIR": str(c.data_dir / "nginx"),
        "NGINX_RATE_LIMIT": c.rate_limit,
        "NGINX_RATE_BURST": str(c.rate_burst),
        "NGINX_CONN_LIMIT": str(c.conn_limit),
        "NGINX_FLOWER_AUTH": c.flower_auth,
        "FLOWER_BASIC_AUTH": flower_login,
    }
    listed.append(
        Program(
            "nginx",
            [str(REPO / "nginx" / "entrypoint.sh")],
            nginx_env,
            priority=900,
            stop_signal="QUIT",
        )
    )
    return listed


def supervisord_conf(c: StackConfig, progs: list[Program]) -> str:
    run = c.data_dir / "run"
    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"silent={'true' if c.quiet else 'false'}",
        f"logfile={run / 'supervisord.log'}",
        f"pidfile={run / 'supervisord.pid'}",
        f"childlogdir={c.data_dir / 'logs'}",
        "",
        "[unix_http_server]",
        f"file={run / 'supervisor.sock'}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{run / 'supervisor.sock'}",
        "",
    ]
    for p in progs:
        env = ",".join(f'{k}="{v}"' for k, v in p.env.items())
        lines += [
            f"[program:{p.name}]",
            "command=" + " ".join(_quote(part) for part in p.command),
            f"directory={REPO}",
            f"priority={p.priority}",
            "autorestart=true",
            "startsecs=2",
            "startretries=100",
            f"stopsignal={p.stop_signal}",
            f"stopwaitsecs={p.stop_wait}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={c.data_dir / 'logs' / (p.name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
        ]
        if env:
            lines.append(f"environment={env.replace('%', '%%')}")
        lines.append("")
    return "\n".join(lines)


def _quote(part: str) -> str:
    return f'"{part}"' if " " in part else part.replace("%", "%%")
