"""Settings from environment variables, with defaults that work on a local machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _list(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated variable, blanks dropped."""
    return tuple(item.strip() for item in _str(name, default).split(",") if item.strip())


def _seconds_by_name(name: str, default: str) -> tuple[tuple[str, float], ...]:
    """A comma-separated `name=seconds` variable, such as `sleep=60,word_count=30`."""
    pairs = (item.partition("=") for item in _list(name, default))
    return tuple((key.strip(), float(value)) for key, _, value in pairs)


def _web_threads() -> int:
    return _int("WEB_THREADS", 16)


@dataclass(frozen=True)
class Settings:
    mongo_url: str = field(default_factory=lambda: _str("MONGO_URL", "mongodb://127.0.0.1:27017"))
    mongo_db: str = field(default_factory=lambda: _str("MONGO_DB", "switchboard"))
    # How long a request waits for MongoDB before answering 503.
    mongo_timeout_ms: int = field(default_factory=lambda: _int("MONGO_TIMEOUT_MS", 2000))
    broker_url: str = field(
        default_factory=lambda: _str("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    )
    rabbitmq_management_url: str = field(
        default_factory=lambda: _str(
            "RABBITMQ_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672/api/"
        )
    )
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 1024 * 1024))
    job_max_attempts: int = field(default_factory=lambda: _int("JOB_MAX_ATTEMPTS", 3))
    retry_backoff_base: float = field(default_factory=lambda: _float("RETRY_BACKOFF_BASE", 1.0))
    retry_backoff_max: float = field(default_factory=lambda: _float("RETRY_BACKOFF_MAX", 60.0))
    heartbeat_interval: float = field(default_factory=lambda: _float("HEARTBEAT_INTERVAL", 2.0))
    # A running job whose heartbeat is older than this is taken to have lost its worker.
    stale_after: float = field(default_factory=lambda: _float("STALE_AFTER", 30.0))
    # A pending job older than this was left behind by a publish that never completed.
    outbox_grace: float = field(default_factory=lambda: _float("OUTBOX_GRACE", 5.0))
    # How often beat runs the relay (pending jobs, due retries) and the stale sweep.
    # Succeeded and cancelled jobs are deleted this many seconds after they finished (a TTL
    # index); failed jobs, the dead letters, stay until retried. 0 keeps every job for ever.
    job_retention: float = field(default_factory=lambda: _float("JOB_RETENTION", 7 * 86400.0))
    # GET /jobs/<id>?wait=N: the longest N, how often a web process checks its waiting jobs
    # (one query for all of them), and how many requests may wait at once per web process (each
    # holds a request thread; by default half of them).
    wait_max_seconds: int = field(default_factory=lambda: _int("JOB_WAIT_MAX", 30))
    wait_poll_interval: float = field(default_factory=lambda: _float("JOB_WAIT_POLL", 0.2))
    wait_max_requests: int = field(
        default_factory=lambda: _int("JOB_WAIT_MAX_REQUESTS", max(_web_threads() // 2, 1))
    )
    dispatch_interval: float = field(default_factory=lambda: _float("DISPATCH_INTERVAL", 1.0))
    sweep_interval: float = field(default_factory=lambda: _float("SWEEP_INTERVAL", 10.0))
    job_modules: tuple[str, ...] = field(
        default_factory=lambda: _list("SWITCHBOARD_JOB_MODULES", "")
    )
    assignment_strategy: str = field(
        default_factory=lambda: _str("ASSIGNMENT_STRATEGY", "longest_idle")
    )
    # How often beat runs the ticket sweep, and how old a reservation must be before the sweep
    # may void it (a live one lasts milliseconds).
    ticket_sweep_interval: float = field(
        default_factory=lambda: _float("TICKET_SWEEP_INTERVAL", 5.0)
    )
    ticket_hold_grace: float = field(default_factory=lambda: _float("TICKET_HOLD_GRACE", 10.0))
    # The window of GET /tickets/stats for time to assign and assignments per minute.
    ticket_stats_window: float = field(default_factory=lambda: _float("TICKET_STATS_WINDOW", 900.0))
    # Where web and Flower listen: every interface in a container, loopback in the local stack.
    bind_host: str = field(default_factory=lambda: _str("BIND_HOST", "0.0.0.0"))
    web_port: int = field(default_factory=lambda: _int("WEB_PORT", 8000))
    web_workers: int = field(default_factory=lambda: _int("WEB_WORKERS", 2))
    web_threads: int = field(default_factory=lambda: _web_threads())
    web_reload: bool = field(default_factory=lambda: _str("WEB_RELOAD", "") not in ("", "0"))
    # Celery node name; %h is the host name, so replicas in containers differ by themselves.
    worker_name: str = field(default_factory=lambda: _str("WORKER_NAME", "worker@%h"))
    # Pool processes per worker. Two, so one attempt's database round trips overlap another's.
    worker_concurrency: int = field(default_factory=lambda: _int("WORKER_CONCURRENCY", 2))
    # The queues a worker consumes: job and ticket workers by default; the maintenance worker
    # is started with WORKER_QUEUES=maintenance.
    worker_queues: tuple[str, ...] = field(
        default_factory=lambda: _list("WORKER_QUEUES", "jobs,tickets")
    )
    flower_port: int = field(default_factory=lambda: _int("FLOWER_PORT", 5555))
    flower_basic_auth: str = field(default_factory=lambda: _str("FLOWER_BASIC_AUTH", ""))
    # Outbound fetches (word_count URLs, later callbacks): limits, and hosts exempt from the
    # private-address refusal (comma-separated), for an operator's own intranet sources.
    fetch_allow_hosts: tuple[str, ...] = field(
        default_factory=lambda: tuple(h.lower() for h in _list("FETCH_ALLOW_HOSTS", ""))
    )
    fetch_connect_timeout: float = field(
        default_factory=lambda: _float("FETCH_CONNECT_TIMEOUT", 5.0)
    )
    fetch_total_timeout: float = field(default_factory=lambda: _float("FETCH_TOTAL_TIMEOUT", 15.0))
    fetch_max_bytes: int = field(default_factory=lambda: _int("FETCH_MAX_BYTES", 5 * 1024 * 1024))
    # Group commit on the web replicas: submits that arrive together share one insert, one
    # pipelined confirmed publish and one status write; at most this many jobs per group.
    submit_group_max: int = field(default_factory=lambda: _int("SUBMIT_GROUP_MAX", 500))
    # API keys. A provided admin key is stored at start; without one, the first start makes one
    # and writes it to DATA_DIR/admin-key. Replicas remember a key this long, so revoking takes
    # effect within it.
    admin_key: str = field(default_factory=lambda: _str("SWITCHBOARD_ADMIN_KEY", ""), repr=False)
    auth_cache_seconds: float = field(default_factory=lambda: _float("AUTH_CACHE_SECONDS", 10.0))
    # Bounded work. A job type's attempt gets a soft time limit (SoftTimeLimitExceeded in the
    # handler; the attempt fails and is retried) and a hard one a grace later (the pool process
    # is killed and replaced). A type's limit: JOB_TIME_LIMITS (`type=seconds,...`), else what
    # the type declares, else JOB_TIME_LIMIT; never above JOB_TIME_LIMIT_MAX.
    job_time_limit: float = field(default_factory=lambda: _float("JOB_TIME_LIMIT", 300.0))
    job_time_limit_max: float = field(default_factory=lambda: _float("JOB_TIME_LIMIT_MAX", 3600.0))
    job_time_limits: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: _seconds_by_name("JOB_TIME_LIMITS", "")
    )
    job_time_limit_grace: float = field(
        default_factory=lambda: _float("JOB_TIME_LIMIT_GRACE", 10.0)
    )
    # A result bigger than this (as JSON) fails its job; MongoDB refuses documents over 16 MiB.
    result_max_bytes: int = field(default_factory=lambda: _int("RESULT_MAX_BYTES", 1024 * 1024))
    # A list page stops before its documents pass this many bytes, and says `next`.
    page_max_bytes: int = field(default_factory=lambda: _int("PAGE_MAX_BYTES", 4 * 1024 * 1024))
    # How deeply a request body's JSON may nest.
    json_max_depth: int = field(default_factory=lambda: _int("JSON_MAX_DEPTH", 64))
    data_dir: str = field(default_factory=lambda: _str("DATA_DIR", ".data"))
    log_level: str = field(default_factory=lambda: _str("LOG_LEVEL", "INFO"))


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
