"""Check Beacon API responses against the bundled OpenAPI documents with jsonschema.

A route is checked against the stable v4.0.0 document when it lists the route, else against
the dev document (electra and fulu additions). Fulu-versioned bodies go to the dev document
too, because v4.0.0 defines no fulu state. The response schema of the status code is
looked up under `paths -> route -> method -> responses`, and `$ref`s resolve inside the
document.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

API_DIR = Path("/work/shared/api")

# The documents give vector lengths of the mainnet preset (512 sync committee members, 64
# proposer lookahead entries), but the test chain runs the minimal preset, so array lengths
# are not checked. Every other keyword is.
PresetFreeValidator = validators.extend(Draft202012Validator, {"minItems": None, "maxItems": None})
DOCUMENTS = ("beacon-node-oapi-v4.0.0.yaml", "beacon-node-oapi-dev.yaml")


@cache
def _document(name: str) -> dict[str, Any]:
    with open(API_DIR / name) as file:
        document = yaml.safe_load(file)
    _canonicalize_refs(document, document)
    return document


def _canonical_pointer(document: dict[str, Any], pointer: str) -> list[str]:
    """Return the path of `pointer` with every `$ref` met on the way followed.

    The bundled documents contain pointers such as `.../header/allOf/0/properties/x` where
    `allOf/0` is itself a `$ref`; plain JSON-pointer resolution stops there.
    """
    path: list[str] = []
    node: Any = document
    for raw in pointer.removeprefix("#/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        while isinstance(node, dict) and part not in node and "$ref" in node:
            path = _canonical_pointer(document, node["$ref"])
            node = _node_at(document, path)
        node = node[int(part)] if isinstance(node, list) else node[part]
        path.append(part)
    return path


def _node_at(document: dict[str, Any], path: list[str]) -> Any:
    node: Any = document
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _canonicalize_refs(document: dict[str, Any], node: Any) -> None:
    """Rewrite every internal `$ref` of the document to a pointer that resolves directly."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            path = _canonical_pointer(document, ref)
            node["$ref"] = "#/" + "/".join(_pointer_part(part) for part in path)
        for value in node.values():
            _canonicalize_refs(document, value)
    elif isinstance(node, list):
        for value in node:
            _canonicalize_refs(document, value)


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


# Forks whose types the v4.0.0 document does not define: their responses are checked against
# the dev document.
FORKS_AFTER_V4 = ("fulu",)


def document_for(route: str, body: Any = None) -> str:
    """Return the name of the document to check `route` against.

    That is the first document listing the route, except that fork-versioned bodies of a fork
    newer than v4.0.0 go to the dev document.
    """
    names = DOCUMENTS
    if isinstance(body, dict) and body.get("version") in FORKS_AFTER_V4:
        names = DOCUMENTS[1:]
    for name in names:
        if route in _document(name)["paths"]:
            return name
    raise AssertionError(f"route {route} is in neither OpenAPI document")


def validate(
    route: str,
    method: str,
    status: int,
    body: Any,
    media: str = "application/json",
    document: str | None = None,
) -> str:
    """Check `body` against the schema of `route` for `status`; return the document's name.

    The document is `document` when given (one of `DOCUMENTS`), else `document_for`'s choice.

    Raises:
        AssertionError: the document has no such response, or the body does not match; the
            message lists every schema error with its JSON path.
    """
    name = document or document_for(route, body)
    document_paths = _document(name)["paths"]
    assert route in document_paths, f"route {route} is not in {name}"
    operation = document_paths[route][method.lower()]
    responses = operation["responses"]
    key = str(status)
    assert key in responses, f"{method} {route}: status {status} is not documented in {name}"
    response = _resolve(_document(name), responses[key])
    content = response.get("content")
    if content is None:
        assert body in (None, b"", ""), f"{method} {route} {status}: expected no body"
        return name
    assert media in content, f"{method} {route} {status}: {media} not documented in {name}"
    pointer = "/".join(["paths", _pointer_part(route), method.lower(), "responses", key])
    if "$ref" in responses[key]:
        pointer = responses[key]["$ref"].removeprefix("#/")
    schema_ref = f"urn:{name}#/{pointer}/content/{_pointer_part(media)}/schema"
    validator = PresetFreeValidator({"$ref": schema_ref}, registry=_registry(name))
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    messages = [f"{error.json_path}: {error.message[:300]}" for error in errors[:10]]
    assert not errors, f"{method} {route} {status} does not match {name}:\n" + "\n".join(messages)
    return name
