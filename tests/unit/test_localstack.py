"""The local stack's wiring, checked without starting it."""

import configparser
import os
import subprocess
from pathlib import Path

from services.localstack.topology import (
    REPO,
    StackConfig,
    programs,
    rabbitmq_conf,
    supervisord_conf,
)


def _conf(tmp_path: Path, **kw: object) -> configparser.RawConfigParser:
    config = StackConfig(data_dir=tmp_path, **kw)  # type: ignore[arg-type]
    parser = configparser.RawConfigParser()
    parser.read_string(supervisord_conf(config, programs(config)))
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


def test_maintenance_runs_on_a_worker_of_its_own(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    assert conf.get("program:maintenance", "command").endswith("-m services.worker")
    assert 'WORKER_QUEUES="maintenance"' in conf.get("program:maintenance", "environment")
    assert "WORKER_QUEUES" not in conf.get("program:worker-1", "environment")


def test_a_running_broker_is_reused_and_workers_scale(tmp_path: Path) -> None:
    conf = _conf(tmp_path, start_rabbitmq=False, workers=4)
    assert not conf.has_section("program:rabbitmq") and not conf.has_section("program:epmd")
    assert conf.has_section("program:worker-4")


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
    nginx = next(p for p in programs(config) if p.name == "nginx")
    assert nginx.env["WEB_UPSTREAM_SERVERS"] == "server 127.0.0.1:9101; server 127.0.0.1:9102;"
    webs = [p for p in programs(config) if p.name.startswith("web-")]
    assert [w.env["WEB_PORT"] for w in webs] == ["9101", "9102"]


def test_rabbitmq_listens_on_loopback_only() -> None:
    text = rabbitmq_conf(StackConfig(amqp_port=5999, management_port=15999))
    assert "listeners.tcp.default = 127.0.0.1:5999" in text
    assert "management.tcp.port = 15999" in text and "management.tcp.ip = 127.0.0.1" in text


def test_local_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    config = StackConfig(data_dir=tmp_path)
    nginx = next(p for p in programs(config) if p.name == "nginx")
    env = {**os.environ, **nginx.env, "HTTP_PORT": "18999"}
    done = subprocess.run([*nginx.command, "test"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rendered = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert "client_max_body_size 1048576;" in rendered
    assert "server 127.0.0.1:8001; server 127.0.0.1:8002;" in rendered
