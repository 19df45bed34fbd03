"""The OpenAPI description: valid, complete, and true to what the API renders."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from flask.testing import FlaskClient
from pydantic import TypeAdapter, ValidationError

from services.core.jobs.submission import JobRequest
from services.core.tickets.requests import Skill
from services.web import openapi_schemas

WRITES = ("post", "patch", "put", "delete")


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    reply = client.get("/openapi.json")
    assert reply.status_code == 200
    return dict(reply.get_json())


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]


def conforms(spec: dict[str, Any], component: str, value: Any) -> bool:
    """Whether `value` is valid against a schema of the description, its references resolved."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    return bool(jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(value))


def test_the_description_is_valid_openapi(spec: dict[str, Any]) -> None:
    schemathesis.openapi.from_dict(spec).validate()


def test_docs_show_the_description_from_under_docs(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs/openapi.json" in page.get_data(as_text=True)
    assert client.get("/docs/openapi.json").get_json() == client.get("/openapi.json").get_json()


def test_every_route_but_health_needs_a_key(spec: dict[str, Any]) -> None:
    assert spec["security"] == [{"bearerAuth": []}]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["basicAuth"]["scheme"] == "basic"
    for path, method, op in operations(spec):
        public = path == "/health"
        assert ("security" in op and op["security"] == []) == public, (method, path)
        assert ("401" in op["responses"]) != public and ("403" in op["responses"]) != public


def test_every_operation_documents_the_errors_of_every_layer(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        documented = set(op["responses"])
        assert {"414", "429", "503"} <= documented, (method, path)
        if "requestBody" in op:
            assert {"400", "413", "415"} <= documented, (method, path)
        unavailable = spec["components"]["responses"]["Unavailable"]
        assert unavailable["headers"]["Retry-After"]["$ref"].endswith("/Retry-After")


def test_links_chain_creation_to_the_resource(spec: dict[str, Any]) -> None:
    ids = {op["operationId"] for _, _, op in operations(spec)}
    links = {
        (op["operationId"], name): link
        for _, _, op in operations(spec)
        for response in op["responses"].values()
        for name, link in response.get("links", {}).items()
    }
    assert {("createJob", "GetJob"), ("createJob", "CancelJob"), ("createJob", "RetryJob")} <= set(
        links
    )
    assert {("createTicket", "GetTicket"), ("createAgent", "GetAgent")} <= set(links)
    assert ("createAgent", "ChangeAgent") in links
    assert all(link["operationId"] in ids for link in links.values())


def test_fixed_sets_are_enums(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["Job"]["properties"]["status"]["enum"] == [
        "blocked",
        "scheduled",
        "pending",
        "queued",
        "running",
        "retrying",
        "throttled",
        "succeeded",
        "failed",
        "cancelled",
    ]
    ticket = schemas["Ticket"]["properties"]
    assert ticket["status"]["enum"] == ["waiting", "reserved", "assigned", "completed", "cancelled"]
    assert ticket["channel"]["enum"] == ["voice", "text"]
    assert schemas["Agent"]["properties"]["status"]["enum"] == ["available", "away", "offline"]


def test_a_job_request_is_checked_against_its_type(spec: dict[str, Any]) -> None:
    assert conforms(spec, "JobSubmission", {"type": "word_count", "payload": {"text": "a"}})
    assert conforms(spec, "JobSubmission", {"type": "noop"})
    assert not conforms(spec, "JobSubmission", {"type": "sleep"})
    assert not conforms(spec, "JobSubmission", {"type": "word_count", "payload": {}})
    assert not conforms(spec, "JobSubmission", {"type": "nope", "payload": {}})
    url = {"type": "word_count", "payload": {"url": "ftp://example.com/"}}
    assert not conforms(spec, "JobSubmission", url)


def test_a_job_starts_at_one_time_at_most(spec: dict[str, Any]) -> None:
    later = {"type": "noop", "run_at": "2030-01-01T00:00:00Z"}
    assert conforms(spec, "JobSubmission", later)
    assert conforms(spec, "JobSubmission", {"type": "noop", "delay_seconds": 2.5})
    assert not conforms(spec, "JobSubmission", {**later, "delay_seconds": 1})
    assert not conforms(spec, "JobSubmission", {"type": "noop", "delay_seconds": -1})


def test_what_the_api_renders_conforms(client: FlaskClient, spec: dict[str, Any]) -> None:
    job = client.post("/jobs", json={"type": "word_count", "payload": {"text": "a b"}})
    assert conforms(spec, "Job", job.get_json())
    assert conforms(spec, "JobPage", client.get("/jobs").get_json())
    agent = client.post("/agents", json={"name": "a", "channels": {"voice": {"capacity": 1}}})
    assert conforms(spec, "Agent", agent.get_json())
    ticket = client.post("/tickets", json={"channel": "voice", "data": {"k": [1]}})
    assert conforms(spec, "Ticket", ticket.get_json())
    assert conforms(spec, "TicketStats", client.get("/tickets/stats").get_json())
    missing = client.get("/jobs/000000000000000000000000")
    assert missing.status_code == 404 and conforms(spec, "Error", missing.get_json())
    assert not conforms(spec, "Job", {**job.get_json(), "status": "lost"})


@pytest.mark.parametrize(
    "text",
    [
        "a",
        " a ",
        "\u3000a b\u2028",
        "\x1ca\x1c",
        "x" * 64,
        f"\t{'x' * 64}\n",
        "x" * 65,
        "",
        " ",
        "\u0085\u00a0",
        *(chr(c) for c in (0x09, 0x0B, 0x85, 0x1680, 0x2005, 0x202F, 0x205F, 0xFEFF, 0x1C)),
    ],
)
def test_a_stripped_string_pattern_accepts_what_pydantic_accepts(text: str) -> None:
    try:
        TypeAdapter(Skill).validate_python(text)
        accepted = True
    except ValidationError:
        accepted = False
    pattern = openapi_schemas.stripped_string_pattern(1, 64)
    assert jsonschema_rs.is_valid({"type": "string", "pattern": pattern}, text) == accepted


@pytest.mark.parametrize("url", ["http://\u0085a.example", "http://a.example/\u0085", "http://a b"])
def test_the_callback_url_pattern_refuses_what_the_api_refuses(
    spec: dict[str, Any], url: str
) -> None:
    # Found by the contract test: `\s` of the model's pattern took U+0085, a JSON Schema's did not.
    schema = spec["components"]["schemas"]["JobRequest"]["properties"]["callback_url"]
    assert not jsonschema_rs.validator_for(schema["anyOf"][0]).is_valid(url)
    with pytest.raises(ValidationError):
        JobRequest.model_validate({"type": "noop", "callback_url": url})
