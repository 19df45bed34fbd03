"""The local stack's wiring, checked without starting it."""

import configparser
import os
import stat
import subprocess
from pathlib import Path

import pytest

from services.core import queues
from tools.localstack.credentials import flower_login, flower_login_path
from tools.localstack.stack import LocalStack
from tools.localstack.topology import (
    REPO,
    Program,
    StackConfig,
    programs,
    rabbitmq_conf,
    rabbitmq_program,
    supervisord_conf,
)

FLOWER_LOGIN = "flower:not-a-real-secret"


def _programs(config: StackConfig) -> dict[str, Program]:
    return {p.name: p for p in programs(config, FLOWER_LOGIN)}


def _conf(tmp_path: Path, **kw: object) -> configparser.RawConfigParser:
    config = StackConfig(data_dir=tmp_path, **kw)  # type: ignore[arg-type]
    parser = configparser.RawConfigParser()
    parser.read_string(supervisord_conf(config, programs(config, FLOWER_LOGIN)))
    return parser


def test_every_process_type_is_supervised(tmp_path: Path) -> None:
    names = {
        s.removeprefix("program:") for s in _conf(tmp_path).sections() if s.startswith("program:")
    }
    assert names == {
        "epmd",
        "mongodb",
        "rabbitmq",
        "web-1",
        "web-2",
        "worker-1",
        "worker-2",
        "ticket-worker-1",
        "maintenance",
        "beat",
        "flower",
        "nginx",
    }


def test_processes_use_the_same_entry_points_as_compose(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    for kind in ("web", "worker", "beat", "flower"):
        section = next(s for s in conf.sections() if s.startswith(f"program:{kind}"))
        assert conf.get(section, "command").endswith(f"-m services.{kind}")
        assert (REPO / "services" / kind / "__main__.py").exists()
    assert conf.get("program:nginx", "command") == str(REPO / "nginx" / "entrypoint.sh")


def test_each_queue_has_a_pool_of_its_own(tmp_path: Path) -> None:
    listed = _programs(StackConfig(data_dir=tmp_path))
    pools = {
        "worker-1": queues.JOBS,
        "worker-2": queues.JOBS,
        "ticket-worker-1": queues.TICKETS,
        "maintenance": queues.MAINTENANCE,
    }
    for name, queue in pools.items():
        assert listed[name].command[1:] == ["-m", "services.worker"], name
        assert listed[name].env["WORKER_QUEUES"] == queue, name
        assert listed[name].env["WORKER_NAME"] == f"{name}@%h", name
    consuming = {p.env["WORKER_QUEUES"] for p in listed.values() if "WORKER_QUEUES" in p.env}
    assert consuming == {q.name for q in queues.work_queues}


def test_a_running_broker_is_reused_and_pools_scale(tmp_path: Path) -> None:
    conf = _conf(tmp_path, start_rabbitmq=False, workers=4, ticket_workers=2)
    assert not conf.has_section("program:rabbitmq") and not conf.has_section("program:epmd")
    assert conf.has_section("program:worker-4") and conf.has_section("program:ticket-worker-2")


def test_restarts_and_group_stops(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    for section in (s for s in conf.sections() if s.startswith("program:")):
        assert conf.get(section, "autorestart") == "true"
        assert (
            conf.get(section, "stopasgroup") == "true"
            and conf.get(section, "killasgroup") == "true"
        )


def test_nginx_upstreams_match_the_web_ports(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path, web_ports=(9101, 9102), http_port=9100)
    nginx = _programs(config)["nginx"]
    servers = [f"server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in (9101, 9102)]
    assert nginx.env["WEB_UPSTREAM_SERVERS"] == " ".join(servers)
    webs = [p for p in programs(config, FLOWER_LOGIN) if p.name.startswith("web-")]
    assert [w.env["WEB_PORT"] for w in webs] == ["9101", "9102"]


def test_rabbitmq_listens_on_loopback_only() -> None:
    config = StackConfig(amqp_port=5999, management_port=15999)
    text = rabbitmq_conf(config)
    assert "listeners.tcp.default = 127.0.0.1:5999" in text
    assert "management.tcp.port = 15999" in text and "management.tcp.ip = 127.0.0.1" in text
    # Erlang distribution and the port mapper too, not only the protocols RabbitMQ serves.
    assert "distribution.listener.interface = 127.0.0.1" in text
    assert rabbitmq_program(config).env["ERL_EPMD_ADDRESS"] == "127.0.0.1"


def test_epmd_listens_on_loopback_only(tmp_path: Path) -> None:
    epmd = _programs(StackConfig(data_dir=tmp_path))["epmd"]
    assert epmd.command[epmd.command.index("-address") + 1] == "127.0.0.1"


def test_flower_credentials_reach_flower_and_nginx_only_by_environment(tmp_path: Path) -> None:
    listed = _programs(StackConfig(data_dir=tmp_path))
    holders = {name for name, p in listed.items() if p.env.get("FLOWER_BASIC_AUTH")}
    assert holders == {"flower", "nginx"}
    assert listed["flower"].env["FLOWER_BASIC_AUTH"] == FLOWER_LOGIN
    assert "FLOWER_UNAUTHENTICATED_API" not in listed["flower"].env
    for program in listed.values():
        assert not any("not-a-real-secret" in part for part in program.command), program.name
    flower_main = (REPO / "services" / "flower" / "__main__.py").read_text()
    assert "--basic_auth" not in flower_main and "--broker_api" not in flower_main


def test_flower_login_is_made_once_and_owner_only(tmp_path: Path) -> None:
    first = flower_login(tmp_path)
    user, _, password = first.partition(":")
    assert user and len(password) >= 32
    assert flower_login(tmp_path) == first, "kept across starts"
    mode = stat.S_IMODE(flower_login_path(tmp_path).stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(flower_login_path(tmp_path).parent.stat().st_mode) == 0o700


def test_supervisord_conf_is_owner_only(tmp_path: Path) -> None:
    stack = LocalStack(StackConfig(data_dir=tmp_path))
    stack.prepare()
    assert stat.S_IMODE(stack.conf_path.stat().st_mode) == 0o600
    assert flower_login(tmp_path) in stack.conf_path.read_text()


def test_local_nginx_limits_stay_out_of_the_benchmarks_way(tmp_path: Path) -> None:
    """Every client of a local stack is 127.0.0.1; the benchmarks post ~3,000 req/s at c=64."""
    nginx = _programs(StackConfig(data_dir=tmp_path))["nginx"]
    rate, unit = nginx.env["NGINX_RATE_LIMIT"].split("r/")
    assert unit == "s" and int(rate) >= 5000
    assert int(nginx.env["NGINX_RATE_BURST"]) >= 5000
    assert int(nginx.env["NGINX_CONN_LIMIT"]) >= 256


@pytest.mark.parametrize("flower_auth", ["flower", "api-key"])
def test_local_nginx_config_passes_nginx_t(tmp_path: Path, flower_auth: str) -> None:
    config = StackConfig(data_dir=tmp_path, flower_auth=flower_auth)
    nginx = _programs(config)["nginx"]
    env = {**os.environ, **nginx.env, "HTTP_PORT": "18999"}
    done = subprocess.run([*nginx.command, "test"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "nginx" / "nginx.conf"
    rendered = path.read_text()
    assert "client_max_body_size 1048576;" in rendered
    assert "server 127.0.0.1:8001 max_fails=1 fail_timeout=2s; server 127.0.0.1:8002" in rendered
    assert f"rate={config.rate_limit};" in rendered
    assert f"burst={config.rate_burst} nodelay;" in rendered
    if flower_auth == "api-key":
        assert "auth_request /_flower_login;" in rendered
        assert (
            'proxy_set_header Authorization "Basic Zmxvd2VyOm5vdC1hLXJlYWwtc2VjcmV0";' in rendered
        )
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, "it holds Flower's credentials"
    else:
        assert "auth_request off;" in rendered
        assert "proxy_set_header Authorization $http_authorization;" in rendered
