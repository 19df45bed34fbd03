"""The baseline for submit: seed 004's way of accepting a job, reproduced in miniature.

Seed 004 (one of the two systems Switchboard replaces) served `POST /word-count` from one gevent
Gunicorn worker: insert the job into MongoDB, open a new AMQP connection, publish one message,
close the connection, read the job back, answer. This app does exactly that against the stack's
own MongoDB and RabbitMQ (a collection and a queue of its own), so that `POST /jobs` is measured
beside it in the same run. Nothing consumes its queue; `Seed004` empties it after each run.

    with Seed004(stack.config) as app: wrk against app.base_url, scenario "seed004"
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import amqp
from bson import ObjectId
from flask import Flask, jsonify, request
from kombu import Connection
from pymongo import MongoClient

from tools.localstack.stack import free_ports, port_open
from tools.localstack.topology import REPO, StackConfig

COLLECTION = "seed004_jobs"
QUEUE = "bench.seed004"
# Seed 004 served every request with one gevent worker; its greenlets share that one process.
WORKER_CONNECTIONS = 1000


def create_app() -> Flask:
    """The app Gunicorn serves; where to connect comes from the environment `Seed004` sets."""
    broker = urllib.parse.urlsplit(os.environ["BENCH_BROKER_URL"])
    client: MongoClient[dict[str, Any]] = MongoClient(os.environ["BENCH_MONGO_URL"])
    jobs = client[os.environ["BENCH_MONGO_DB"]][COLLECTION]
    app = Flask(__name__)

    def publish(body: str) -> None:
        # A connection per message, as seed 004 did: the cost this baseline exists to show.
        conn = amqp.Connection(
            host=f"{broker.hostname}:{broker.port}",
            userid=broker.username or "guest",
            password=broker.password or "guest",
        )
        conn.connect()
        try:
            conn.channel().basic_publish(amqp.Message(body), exchange="", routing_key=QUEUE)
        finally:
            conn.close()

    @app.post("/word-count")
    def submit() -> Any:
        url = (request.get_json(silent=True) or {}).get("url")
        if not isinstance(url, str):
            return jsonify(success=False, message="url is required"), 400
        job_id = jobs.insert_one(
            {"_id": str(ObjectId()), "url": url, "status": "IN_PROGRESS", "at": datetime.now(UTC)}
        ).inserted_id
        publish(job_id)
        job = jobs.find_one({"_id": job_id})
        data = {"job_id": job_id, "url": url, "status": job["status"] if job else "UNKNOWN"}
        return jsonify(success=True, message=f"Scheduled Job: {job_id}", data=data), 202

    return app


class Seed004:
    """The app under one gevent Gunicorn worker on a free port, for the span of a `with`."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.port = free_ports(1)[0]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Seed004:
        with Connection(self.config.broker_url) as conn:
            conn.default_channel.queue_declare(QUEUE, durable=True, auto_delete=False)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "BENCH_BROKER_URL": self.config.broker_url,
            "BENCH_MONGO_URL": self.config.mongo_url,
            "BENCH_MONGO_DB": self.config.mongo_db,
        }
        command = [
            sys.executable, "-m", "gunicorn",
            "--worker-class", "gevent", "--workers", "1",
            "--worker-connections", str(WORKER_CONNECTIONS),
            "--bind", f"127.0.0.1:{self.port}",
            "--log-level", "warning",
            "bench.seed004:create_app()",
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, cwd=REPO, env=env)
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the seed 004 app did not start")
            time.sleep(0.2)
        return self

    def reset(self) -> None:
        """Empty its queue and collection, so each run starts alike."""
        with Connection(self.config.broker_url) as conn:
            conn.default_channel.queue_purge(QUEUE)
        MongoClient(self.config.mongo_url)[self.config.mongo_db][COLLECTION].delete_many({})

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        with Connection(self.config.broker_url) as conn:
            conn.default_channel.queue_delete(QUEUE)
        MongoClient(self.config.mongo_url)[self.config.mongo_db][COLLECTION].drop()
