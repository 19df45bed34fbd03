"""Settings: one typed object built from environment variables, with defaults that work on a
local machine. Made once by each process's entry point and handed down from there."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.core.tickets import escalation, offers
from services.core.tickets.matching import Strategy

# Defaults the stores also use when made without settings (unit tests, tools).
JOB_RETENTION = 7 * 86400.0
PAGE_MAX_BYTES = 4 * 1024 * 1024

# A comma-separated variable, such as WORKER_QUEUES=jobs,tickets (not JSON).
Names = Annotated[tuple[str, ...], NoDecode]
Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    # Fields named in code as their variable is not (JOB_WAIT_MAX) take either name.
    model_config = SettingsConfigDict(frozen=True, extra="ignore", validate_by_name=True)

    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "switchboard"
    # How long a request waits for MongoDB before answering 503.
    mongo_timeout_ms: int = Field(2000, gt=0)
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    rabbitmq_management_url: str = "http://guest:guest@127.0.0.1:15672/api/"
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    job_max_attempts: int = Field(3, ge=1)
    retry_backoff_base: float = Field(1.0, ge=0)
    retry_backoff_max: float = Field(60.0, ge=0)
    heartbeat_interval: Seconds = 2.0
    # A running job whose heartbeat is older than this is taken to have lost its worker.
    stale_after: Seconds = 30.0
    # A pending job older than this was left behind by a publish that never completed.
    outbox_grace: Seconds = 5.0
    # A parent that ended this long ago has its blocked children settled once more by the sweep
    # (`dependencies`), in case the process that ended it died before settling them.
    dependency_grace: Seconds = 30.0
    # Succeeded and cancelled jobs are deleted this many seconds after they finished (a TTL
    # index); failed jobs, the dead letters, stay until retried. 0 keeps every job for ever.
    job_retention: float = Field(JOB_RETENTION, ge=0)
    # GET /jobs/<id>?wait=N: the longest N, how often a web process checks its waiting jobs
    # (one query for all of them), and how many requests may wait at once per web process (each
    # holds a request thread; unset: half of them, `wait_slots`).
    wait_max_seconds: int = Field(30, ge=0, validation_alias="JOB_WAIT_MAX")
    wait_poll_interval: Seconds = Field(0.2, validation_alias="JOB_WAIT_POLL")
    wait_max_requests: int | None = Field(None, ge=1, validation_alias="JOB_WAIT_MAX_REQUESTS")
    # How often beat runs the relay (pending jobs, due retries) and the stale sweep.
    # Callbacks (`callback_url`): the HMAC key that signs them (none: submitting one is refused),
    # how often the relay looks for due ones, and how many tries each gets.
    callback_secret: str = Field("", repr=False)
    callback_interval: Seconds = 1.0
    callback_max_attempts: int = Field(8, ge=1)
    # How often beat fires the schedules that are due (their ticks are whole seconds at most).
    schedule_interval: Seconds = 1.0
    # GET /jobs/<id>/events: the longest one stream lasts (a browser reconnects by itself).
    events_max_seconds: Seconds = Field(300.0, validation_alias="JOB_EVENTS_MAX")
    # The relay's period: a scheduled job or a retry goes out at most this long after its time.
    # Each tick is a few indexed reads (2-5 ms with 100,000 scheduled jobs waiting), so four a
    # second keep due jobs within 1 s of their time at about 1% of a core.
    dispatch_interval: Seconds = 0.25
    sweep_interval: Seconds = 10.0
    job_modules: Names = Field((), validation_alias="SWITCHBOARD_JOB_MODULES")
    assignment_strategy: Strategy = Strategy.LONGEST_IDLE
    # How often beat runs the ticket sweep, and how old a reservation must be before the sweep
    # may void it (a live one lasts milliseconds).
    ticket_sweep_interval: Seconds = 5.0
    ticket_hold_grace: Seconds = 10.0
    # Ageing: a waiting ticket gains TICKET_AGEING priority levels for every SLA of its channel
    # it has waited (TICKET_SLA, seconds per channel), so none waits for ever behind newer ones.
    ticket_sla: Annotated[dict[str, float], NoDecode] = {"voice": 20.0, "text": 120.0}
    ticket_ageing: float = Field(1.0, ge=0)
    # Offers to agents who do not accept automatically: how long one waits for an answer (the
    # ticket sweep gives lapsed ones back, so up to TICKET_SWEEP_INTERVAL later), unanswered
    # offers in a row before the agent is set `away`, and how long an agent who rejected a
    # ticket (or let its offer lapse) is not offered that ticket again.
    reservation_timeout: Seconds = offers.RESERVATION_TIMEOUT
    reservation_misses_away: int = Field(offers.RESERVATION_MISSES_AWAY, ge=1)
    ticket_reject_cooldown: float = Field(offers.REJECT_COOLDOWN, ge=0)
    # Escalation per skill set, `skills=seconds[:fallback],...` with skills joined by `+`
    # (see services/core/tickets/escalation.py), e.g. `billing=60:support,vip=20`.
    ticket_escalation: Annotated[dict[str, escalation.Widening], NoDecode] = {}
    # The window of GET /tickets/stats for time to assign and assignments per minute.
    ticket_stats_window: Seconds = 900.0
    # Where web and Flower listen: every interface in a container, loopback in the local stack.
    bind_host: str = "0.0.0.0"
    web_port: int = 8000
    # One process per replica, scaled by replicas behind Nginx: on 2 shared cores, 2 replicas of
    # 1 process of 32 threads took about 12% more `POST /jobs` and 20% more refused requests than
    # 2 of 16 (fewer processes contend for the cores; each group commit gathers more submits).
    web_workers: int = Field(1, ge=1)
    web_threads: int = Field(32, ge=1)
    web_reload: bool = False
    # Celery node name; %h is the host name, so replicas in containers differ by themselves.
    worker_name: str = "worker@%h"
    # Pool processes per worker. Two, so one attempt's database round trips overlap another's.
    worker_concurrency: int = Field(2, ge=1)
    # Task events (task-received, -started, -succeeded...) for Flower's task list and its
    # per-worker counts. Three messages per job, each parsed by Flower: about a fifth of the CPU
    # a noop job costs end to end (docs/benchmarks.md). Off, Flower still shows workers, pools,
    # queues and remote control; the job dashboard and the JSON logs follow each job.
    worker_task_events: bool = True
    # The queues a worker consumes: job and ticket workers by default; the maintenance worker
    # is started with WORKER_QUEUES=maintenance.
    worker_queues: Names = ("jobs", "tickets")
    flower_port: int = 5555
    flower_basic_auth: str = Field("", repr=False)
    # Outbound fetches (word_count URLs, later callbacks): limits, and hosts exempt from the
    # private-address refusal (comma-separated), for an operator's own intranet sources.
    fetch_allow_hosts: Names = ()
    fetch_connect_timeout: Seconds = 5.0
    fetch_total_timeout: Seconds = 15.0
    fetch_max_bytes: int = Field(5 * 1024 * 1024, gt=0)
    # Group commit on the web replicas: submits that arrive together share one insert, one
    # pipelined confirmed publish and one status write; at most this many jobs per group.
    submit_group_max: int = Field(500, ge=1)
    # API keys. A provided admin key is stored at start; without one, the first start makes one
    # and writes it to DATA_DIR/admin-key. Replicas remember a key this long, so revoking takes
    # effect within it.
    admin_key: str = Field("", repr=False, validation_alias="SWITCHBOARD_ADMIN_KEY")
    auth_cache_seconds: float = Field(10.0, ge=0)
    # The dashboard (/dashboard): the key that signs its session cookies, the same on every
    # replica (none: its login is refused), how long a login lasts, and whether the cookie is
    # sent over HTTPS only (on when Nginx is reached through TLS).
    dashboard_secret: str = Field("", repr=False)
    dashboard_session_seconds: Seconds = 8 * 3600.0
    dashboard_cookie_secure: bool = False
    # Bounded work. A job type's attempt gets a soft time limit (SoftTimeLimitExceeded in the
    # handler; the attempt fails and is retried) and a hard one a grace later (the pool process
    # is killed and replaced). A type's limit: JOB_TIME_LIMITS (`type=seconds,...`), else what
    # the type declares, else JOB_TIME_LIMIT; never above JOB_TIME_LIMIT_MAX.
    job_time_limit: Seconds = 300.0
    job_time_limit_max: Seconds = 3600.0
    job_time_limits: Annotated[dict[str, float], NoDecode] = {}
    job_time_limit_grace: float = Field(10.0, ge=0)
    # Concurrency and rate limits (`services/core/jobs/concurrency.py`). Per job type:
    # TYPE_CONCURRENCY (`type=n,...`: at most n running at once across the cluster) and TYPE_RATE
    # (`type=r,...`: at most r starts per second). Per `concurrency_key` given on submit: the same
    # for every key, KEY_CONCURRENCY and KEY_RATE (unset: no limit). A job over a limit waits
    # `throttled` and is tried again after THROTTLE_DELAY (a concurrency limit) or at the next
    # second (a rate limit).
    type_concurrency: Annotated[dict[str, Annotated[int, Field(ge=1)]], NoDecode] = {}
    type_rate: Annotated[dict[str, Annotated[int, Field(ge=1)]], NoDecode] = {}
    key_concurrency: int | None = Field(None, ge=1)
    key_rate: int | None = Field(None, ge=1)
    throttle_delay: Seconds = 1.0
    # A result bigger than this (as JSON) fails its job; MongoDB refuses documents over 16 MiB.
    result_max_bytes: int = Field(1024 * 1024, gt=0)
    # A list page stops before its documents pass this many bytes, and says `next`.
    page_max_bytes: int = Field(PAGE_MAX_BYTES, gt=0)
    # How deeply a request body's JSON may nest.
    json_max_depth: int = Field(64, ge=1)
    data_dir: str = ".data"
    log_level: str = "INFO"

    @field_validator("job_modules", "worker_queues", "fetch_allow_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("fetch_allow_hosts", mode="after")
    @classmethod
    def _lower_case(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(host.lower() for host in hosts)

    @field_validator(
        "job_time_limits", "ticket_sla", "type_concurrency", "type_rate", mode="before"
    )
    @classmethod
    def _seconds_by_name(cls, value: object) -> object:
        """`name=number,...`: a time limit, a concurrency or a rate per job type, an SLA per
        channel."""
        if not isinstance(value, str):
            return value
        pairs = (item.partition("=") for item in value.split(",") if item.strip())
        return {name.strip(): seconds for name, _, seconds in pairs}

    @field_validator("ticket_escalation", mode="before")
    @classmethod
    def _escalation_rules(cls, value: object) -> object:
        return escalation.parse(value) if isinstance(value, str) else value

    @field_validator("key_concurrency", "key_rate", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("web_reload", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return False if value == "" else value

    @property
    def offer_policy(self) -> offers.OfferPolicy:
        return offers.OfferPolicy(
            self.reservation_timeout, self.reservation_misses_away, self.ticket_reject_cooldown
        )

    @property
    def wait_slots(self) -> int:
        """How many `?wait=` requests one web process holds at once."""
        return self.wait_max_requests or max(self.web_threads // 2, 1)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once, by an entry point (never at import)."""
    return Settings()
