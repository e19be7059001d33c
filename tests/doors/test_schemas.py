"""The machine-readable descriptions: OpenAPI 3.1 (openapi-spec-validator), OpenRPC (its
meta-schema from the ``@open-rpc/meta-schema`` npm package), the offline API docs pages, and
DRF's ``?format=`` override being off."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from jsonschema import Draft7Validator, Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT7

from tests.doors.sdks import node_sdk_dir

pytestmark = pytest.mark.django_db

OPENAPI_JSON = "application/vnd.oai.openapi+json"


@pytest.fixture
def openapi():
    response = Client().get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    assert response.status_code == 200
    return json.loads(response.content)


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_openapi_is_valid_3_1_with_security_and_errors(openapi):
    assert openapi["openapi"] == "3.1.0"
    validate_openapi(openapi)  # raises with the validator's message when invalid
    schemes = openapi["components"]["securitySchemes"]
    assert schemes == {"BearerAuth": {"type": "http", "scheme": "bearer", **{
        "description": schemes["BearerAuth"]["description"]}}}  # fmt: skip
    for ref in set(_refs(openapi)):
        _resolve(openapi, ref)
    error_ref = {"$ref": "#/components/schemas/Error"}
    operations = [
        (path, verb, op) for path, ops in openapi["paths"].items() for verb, op in ops.items()
    ]
    assert len(operations) > 40
    for path, verb, op in operations:
        assert op["security"] == [{"BearerAuth": []}], (path, verb)
        for status in ("400", "401", "403", "404", "429", "500"):
            body = op["responses"][status]["content"]["application/json"]["schema"]
            assert body == error_ref, (path, verb, status)
        if verb == "post":
            assert {"503", "504"} <= set(op["responses"]), path
        assert any(s.startswith("2") for s in op["responses"]), (path, verb)
    Draft202012Validator.check_schema(openapi["components"]["schemas"]["Error"])


def test_openapi_error_bodies_match_the_error_schema(openapi, demo, api_as):
    schema = openapi["components"]["schemas"]["Error"]
    api = api_as("read")
    for response in (
        api.get("/api/personas/nobody/"),
        api.get("/api/personas/?limit=100000"),
        Client().get("/api/personas/"),
        Client().get("/api/no/such/path/"),
    ):
        assert response.status_code in (400, 401, 404)
        Draft202012Validator(schema).validate(response.json())


def _query_param(openapi, path: str, name: str) -> dict:
    params = openapi["paths"][path]["get"]["parameters"]
    return next(p for p in params if p["name"] == name)


def test_openapi_parameter_limits_come_from_the_validation_models(openapi, demo, api_as):
    from personas.schemas import PersonaListParams

    limit = _query_param(openapi, "/api/personas/", "limit")["schema"]
    field = PersonaListParams.model_json_schema()["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (field["minimum"], field["maximum"])
    api = api_as("read")
    assert api.get(f"/api/personas/?limit={limit['maximum']}").status_code == 200
    assert api.get(f"/api/personas/?limit={limit['maximum'] + 1}").status_code == 400
    search = _query_param(openapi, "/api/memory/search/", "limit")["schema"]
    assert search["maximum"] == 100


def test_format_query_is_the_apis_own_parameter(demo, api_as):
    api = api_as("read")
    card = api.get("/api/personas/alice/export/?format=ccv2")
    assert card.status_code == 200 and card.json()["card"]["spec"] == "chara_card_v2"
    assert api.get("/api/personas/alice/export/?format=ccv3").json()["card"]["spec"] == (
        "chara_card_v3"
    )
    # DRF's renderer override is off everywhere: ?format= never selects a renderer
    listed = api.get("/api/personas/?format=api")
    assert listed.status_code == 200 and listed["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_use_local_files_and_no_inline_code(path):
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html and " on" not in html.split("<body", 1)[1].split(">")[0]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset
    assert "/api/schema/" in html


def _npm_schema(package: str, export: str) -> dict:
    script = f'console.log(JSON.stringify(require("{package}").{export}))'
    done = subprocess.run(
        ["node", "-e", script], cwd=node_sdk_dir(), capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def openrpc_validator() -> Draft7Validator:
    """The OpenRPC meta-schema (draft 7) with the JSON Schema meta-schema it refers to, both
    from their npm packages (nothing is fetched at validation time)."""
    meta = _npm_schema("@open-rpc/meta-schema", "openrpcDocument")
    json_schema = _npm_schema("@json-schema-tools/meta-schema", "default")
    resource = DRAFT7.create_resource(json_schema)
    registry = Registry().with_resources(
        [
            ("https://meta.json-schema.tools", resource),
            ("https://meta.json-schema.tools/", resource),
        ]
    )
    Draft7Validator.check_schema(meta)
    return Draft7Validator(meta, registry=registry)


def test_openrpc_document_is_valid_and_resolvable(demo, api_as):
    from personamcp.rpc.openrpc import openrpc_document

    doc = openrpc_document()
    problems = sorted(openrpc_validator().iter_errors(doc), key=str)
    assert not problems, [f"{list(p.absolute_path)}: {p.message}" for p in problems[:10]]
    codes = [e["code"] for e in doc["components"]["errors"].values()]
    assert len(codes) == len(set(codes))
    assert {-32700, -32600, -32601, -32602, -32603, -32001, -32020, -32022, -32030} <= set(codes)
    for ref in set(_refs(doc)):
        _resolve(doc, ref)
    for method in doc["methods"]:
        for param in method["params"]:
            Draft202012Validator.check_schema(param["schema"])
        Draft202012Validator.check_schema(method["result"]["schema"])
    served = Client().get("/openrpc.json")
    assert served.status_code == 200 and served["Content-Type"] == "application/json"
    assert served.json() == json.loads(json.dumps(doc))


def test_bot_patch_with_explicit_nulls_keeps_the_fields(demo, api_as):
    """Found by the schemathesis run: nulls for the patchable fields were a 500."""
    api = api_as("admin")
    bot = api.post(
        "/api/bots/",
        {"persona": "rook", "homeserver": "http://127.0.0.1:9", "user_id": "@n:localhost",
         "access_token": "secret"},
        format="json",
    ).json()  # fmt: skip
    nulls = {"answer_bots": None, "autostart": None, "device_id": None, "enabled": None}
    response = api.patch(f"/api/bots/{bot['id']}/", nulls, format="json")
    assert response.status_code == 200
    assert (response.json()["enabled"], response.json()["autostart"]) == (
        bot["enabled"],
        bot["autostart"],
    )


def test_values_the_database_cannot_store_are_a_400(demo, api_as):
    """Found by the schemathesis run on PostgreSQL: a NUL character in JSON was a 500."""
    api = api_as("write")
    lorebook = api.post("/api/lorebooks/", {"name": "nul", "entries": []}, format="json").json()
    response = api.patch(
        f"/api/lorebooks/{lorebook['id']}/", {"extensions": {"k\u0000": "v\u0000"}}, format="json"
    )
    assert response.status_code in (200, 400)  # SQLite stores it; PostgreSQL's jsonb cannot
    if response.status_code == 400:
        assert response.json()["error"]["code"] == -32602
