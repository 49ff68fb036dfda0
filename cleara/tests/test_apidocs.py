"""The API reference at /api/v1/docs: every operation of the served OpenAPI schema, on the
server, without Swagger UI's bundle; Swagger UI on demand (?try=1), from our own static files."""
from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from cleara.api import api
from cleara.apidocs import operations, type_of


def test_every_operation_of_the_schema_is_listed_once_with_its_parameters_and_body():
    schema = api.get_openapi_schema(path_params={})
    listed = [(op.method, op.path) for _, ops in operations(schema) for op in ops]
    expected = [(m.upper(), p) for p, methods in schema["paths"].items() for m in methods]
    assert sorted(listed) == sorted(expected) and len(set(listed)) == len(listed)

    ops = {(op.method, op.path): op for _, ops in operations(schema) for op in ops}
    ingest = ops[("POST", "/api/v1/events")]
    assert ingest.tag == "events" and ingest.authenticated
    assert ingest.body_types[0] == "application/json" and ingest.body_shape == "array of objects (1-5000)"
    fields = {f.name: f for f in ingest.body}
    assert fields["timestamp"].required and fields["timestamp"].type == "string (date-time)"
    assert fields["type"].type == "one of: alert, log, metric"
    assert not fields["id"].required and "never stored twice" in fields["id"].description
    assert "9223372036854775807" not in fields["value"].type  # a 64-bit bound says nothing
    events = ops[("GET", "/api/v1/incidents/{ref}/events")]
    assert [(p.name, p.where, p.required) for p in events.parameters][:1] == [("ref", "path", True)]
    assert {"202", "400", "413"} <= {code for code, _ in ingest.responses}
    assert ops[("POST", "/api/v1/integrations/pagerduty/webhook")].authenticated is False


def test_types_read_as_text():
    schema = {"components": {"schemas": {"Kind": {"enum": ["a", "b"], "type": "string"}}}}
    assert type_of(schema, {"$ref": "#/components/schemas/Kind"}) == "one of: a, b"
    assert type_of(schema, {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}) == "integer ≥ 1"
    assert type_of(schema, {"type": "array", "items": {"type": "string", "maxLength": 5}}) == "array of string ≤ 5 chars"
    assert type_of(schema, {}) == "any"


@pytest.mark.django_db
def test_the_docs_page_is_the_reference_without_swagger_and_links_every_operation_to_swagger(alice):
    response = alice.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle" not in page and "swagger-ui.css" not in page
    spec = json.loads(alice.get("/api/v1/openapi.json").content)
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert f'id="{op["operationId"]}"' in page, op["operationId"]
            assert f'href="?try=1#/{op["tags"][0]}/{op["operationId"]}"' in page
    assert "Ingest a batch of events" in page and "client id; the same id is never stored twice" in page
    assert len(response.content) < 60_000


def test_the_docs_page_works_without_a_session_and_swagger_ui_comes_from_our_static_files(db):
    anonymous = Client()
    assert anonymous.get("/api/v1/docs").status_code == 200
    swagger = anonymous.get("/api/v1/docs?try=1").content.decode()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', swagger)
    assert scripts and all(src.startswith("/static/ninja/") for src in scripts), scripts
    assert "/static/ninja/swagger-ui.css" in swagger and "cdn" not in swagger.lower() and "unpkg" not in swagger.lower()
    assert anonymous.get("/static/ninja/swagger-ui-bundle.js").status_code == 200
