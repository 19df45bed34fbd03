"""API keys through Nginx on the real database: refused without one, scoped, own jobs only."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pymongo import MongoClient
from pymongo.database import Database

from services.core.apikeys import KeyStore, Scope
from tests.integration.client import Api
from tools.localstack.stack import LocalStack


def test_without_a_key_only_health_answers(api: Api) -> None:
    anonymous = Api(api.base_url)
    assert anonymous.get("/health").status == 200
    refused = anonymous.post("/jobs", {"type": "noop"})
    assert refused.status == 401
    assert refused.json == {"error": "missing or invalid API key"}
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="switchboard"'
    assert Api(api.base_url, "sb_made-up-key-nobody-was-given").get("/stats").status == 401


def test_a_writer_key_reads_its_own_jobs_only(api: Api) -> None:
    writer, other = api.with_new_key("jobs:write"), api.with_new_key("jobs:write")
    job = writer.submit("noop", {})
    assert writer.wait_status(job["id"], "succeeded")["id"] == job["id"]
    assert other.get(f"/jobs/{job['id']}").status == 403
    assert writer.get("/jobs").status == 403
    assert api.with_new_key("jobs:read").get(f"/jobs/{job['id']}").status == 200


def test_replicas_starting_together_make_one_first_admin_key(
    stack: LocalStack, tmp_path: Path
) -> None:
    db: Database = MongoClient(stack.config.mongo_url, tz_aware=True)["switchboard_first_admin"]
    db.drop_collection("api_keys")
    store = KeyStore(db)
    store.ensure_indexes()
    with ThreadPoolExecutor(4) as pool:
        said = list(pool.map(lambda _: store.ensure_admin("", tmp_path), range(4)))
    assert sum("created" in s for s in said) == 1
    assert [k.scopes for k in store.all()] == [frozenset({Scope.ADMIN})]
    assert store.find((tmp_path / "admin-key").read_text().strip()) is not None
