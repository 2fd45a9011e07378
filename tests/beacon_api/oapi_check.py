"""Check Beacon API responses against the bundled OpenAPI documents with jsonschema.

A route is checked against the stable v4.0.0 document when it lists the route, else against
the dev document (electra and fulu additions). The response schema of the status code is
looked up under `paths -> route -> method -> responses`, and `$ref`s resolve inside the
document.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

API_DIR = Path("/work/shared/api")
DOCUMENTS = ("beacon-node-oapi-v4.0.0.yaml", "beacon-node-oapi-dev.yaml")


@cache
def _document(name: str) -> dict[str, Any]:
    with open(API_DIR / name) as file:
        return yaml.safe_load(file)


@cache
def _registry(name: str) -> Registry:
    resource = Resource.from_contents(_document(name), default_specification=DRAFT202012)
    return Registry().with_resource(f"urn:{name}", resource)


def _pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def _resolve(document: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in value:
        node: Any = document
        for part in value["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        value = node
    return value


def document_for(route: str) -> str:
    """Return the name of the first document that lists `route`."""
    for name in DOCUMENTS:
        if route in _document(name)["paths"]:
            return name
    raise AssertionError(f"route {route} is in neither OpenAPI document")


def validate(
    route: str, method: str, status: int, body: Any, media: str = "application/json"
) -> str:
    """Check `body` against the schema of `route` for `status`; return the document's name.

    Raises:
        AssertionError: the document has no such response, or the body does not match; the
            message lists every schema error with its JSON path.
    """
    name = document_for(route)
    document = _document(name)
    operation = document["paths"][route][method.lower()]
    responses = operation["responses"]
    key = str(status)
    assert key in responses, f"{method} {route}: status {status} is not documented in {name}"
    response = _resolve(document, responses[key])
    content = response.get("content")
    if content is None:
        assert body in (None, b"", ""), f"{method} {route} {status}: expected no body"
        return name
    assert media in content, f"{method} {route} {status}: {media} not documented in {name}"
    pointer = "/".join(["paths", _pointer_part(route), method.lower(), "responses", key])
    if "$ref" in responses[key]:
        pointer = responses[key]["$ref"].removeprefix("#/")
    schema_ref = f"urn:{name}#/{pointer}/content/{_pointer_part(media)}/schema"
    validator = Draft202012Validator({"$ref": schema_ref}, registry=_registry(name))
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    messages = [f"{error.json_path}: {error.message[:300]}" for error in errors[:10]]
    assert not errors, f"{method} {route} {status} does not match {name}:\n" + "\n".join(messages)
    return name
