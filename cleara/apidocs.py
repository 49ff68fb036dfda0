"""The API reference at /api/v1/docs: the OpenAPI schema rendered on the server, in the console's look.

Swagger UI is 1.5 MB of JavaScript (about 460 kB compressed) and took 4.8-6 s to show anything on a
throttled phone (bench/pages.py), for a page most readers only read. So the docs page is plain
HTML made from the same schema the API serves at /api/v1/openapi.json (every operation with its
parameters, request body fields and answers), and Swagger UI's interactive "try it out" is
loaded on demand: `?try=1` (the "Try it out" links, which deep-link to the operation) renders
django-ninja's own Swagger page, from our static files (no CDN).

`operations(schema)` turns the schema into what the template shows; it is a plain function of
the schema and is tested alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger

METHOD_ORDER = ("get", "post", "put", "patch", "delete")


@dataclass
class Field:
    name: str
    type: str
    required: bool
    description: str = ""
    where: str = ""  # "query", "path", "header" for parameters; "" for body fields


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str
    authenticated: bool
    parameters: list[Field] = field(default_factory=list)
    body: list[Field] = field(default_factory=list)
    body_shape: str = ""  # "object", "array of objects (1-5000)", ...
    body_types: list[str] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return self.operation_id

    @property
    def swagger_link(self) -> str:
        """Swagger UI's deep link to the operation (deepLinking: #/<tag>/<operationId>)."""
        return f"?try=1#/{self.tag}/{self.operation_id}"


def _resolve(schema: dict, node: dict, depth: int = 0) -> dict:
    """Follow $ref (and a single-element allOf, as pydantic writes) to the schema object."""
    while depth < 10:
        depth += 1
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            node = schema.get("components", {}).get("schemas", {}).get(name, {})
        elif len(node.get("allOf", [])) == 1 and len(node) <= 3:
            node = node["allOf"][0]
        else:
            break
    return node


def type_of(schema: dict, node: dict) -> str:
    """A short, readable type: `string (date-time)`, `integer 1-500`, `array of string`, `one of: a, b`."""
    node = _resolve(schema, node)
    if "enum" in node:
        return "one of: " + ", ".join(str(v) for v in node["enum"])
    if "anyOf" in node or "oneOf" in node:
        parts = [type_of(schema, n) for n in node.get("anyOf") or node.get("oneOf")]
        parts = [p for p in parts if p != "null"]
        return " or ".join(dict.fromkeys(parts)) or "any"
    kind = node.get("type", "object" if "properties" in node else "any")
    if kind == "array":
        text = f"array of {type_of(schema, node.get('items', {}))}"
    elif kind == "object" and node.get("title") and "properties" in node:
        text = node["title"]
    else:
        text = str(kind)
    if node.get("format"):
        text += f" ({node['format']})"
    bounds = [(node.get("minimum"), node.get("maximum"), ""), (node.get("minLength"), node.get("maxLength"), " chars"),
              (node.get("minItems"), node.get("maxItems"), " items")]
    for low, high, unit in bounds:
        if _bounds(low, high):
            return text + _bounds(low, high) + unit
    return text


def _bounds(low, high) -> str:
    """` 1-200`, ` ≤ 200`, ` ≥ 0`; a bound at the size of a 64-bit integer says nothing and is left out."""
    low = None if low is None or abs(low) >= 2**53 else low
    high = None if high is None or abs(high) >= 2**53 else high
    if low is not None and high is not None:
        return f" {low}-{high}"
    if high is not None:
        return f" ≤ {high}"
    if low is not None:
        return f" ≥ {low}"
    return ""


def _fields(schema: dict, node: dict) -> tuple[str, list[Field]]:
    node = _resolve(schema, node)
    shape = ""
    if node.get("type") == "array":
        low, high = node.get("minItems"), node.get("maxItems")
        count = f" ({low if low is not None else 0}-{high})" if high is not None else ""
        shape = f"array of objects{count}"
        node = _resolve(schema, node.get("items", {}))
    elif "properties" in node:
        shape = "object"
    required = set(node.get("required", []))
    out = [Field(name, type_of(schema, prop), name in required, _resolve(schema, prop).get("description", "") or prop.get("description", ""))
           for name, prop in node.get("properties", {}).items()]
    return (shape or type_of(schema, node)), out


def operations(schema: dict) -> list[tuple[str, list[Operation]]]:
    """The schema's operations grouped by tag, in the schema's order of first appearance."""
    groups: dict[str, list[Operation]] = {}
    for path, methods in schema.get("paths", {}).items():
        for method in sorted(methods, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 99):
            op = methods[method]
            tag = (op.get("tags") or ["api"])[0]
            parameters = [
                Field(p["name"], type_of(schema, p.get("schema", {})), bool(p.get("required")),
                      p.get("description") or _resolve(schema, p.get("schema", {})).get("description", ""), p.get("in", ""))
                for p in op.get("parameters", [])
            ]
            body_shape, body, body_types = "", [], []
            content = op.get("requestBody", {}).get("content", {})
            if content:
                body_types = list(content)
                body_shape, body = _fields(schema, next(iter(content.values())).get("schema", {}))
            responses = [(str(code), answer.get("description", "")) for code, answer in op.get("responses", {}).items()]
            groups.setdefault(tag, []).append(Operation(
                method=method.upper(), path=path, operation_id=op.get("operationId", f"{method}-{path}"), tag=tag,
                summary=op.get("summary", ""), description=op.get("description", ""), authenticated=bool(op.get("security")),
                parameters=parameters, body=body, body_shape=body_shape, body_types=body_types, responses=responses,
            ))
    return list(groups.items())


class Reference(Swagger):
    """django-ninja's docs hook: the server-rendered reference, or Swagger UI with `?try=1`."""

    def render_page(self, request: HttpRequest, api, **kwargs: Any) -> HttpResponse:
        if request.GET.get("try"):
            return super().render_page(request, api, **kwargs)
        schema = api.get_openapi_schema(path_params=kwargs)
        return render(request, "api/reference.html", {
            "info": schema.get("info", {}),
            "groups": operations(schema),
            "openapi_url": self.get_openapi_url(api, kwargs),
        })
