"""Helpers shared by the route modules."""

from fastapi import Request

from beacon_api.chain import ChainReader


def chain_of(request: Request) -> ChainReader:
    """Return the `ChainReader` the app was created with."""
    return request.app.state.chain


def query_list(request: Request, name: str) -> list[str]:
    """Return every value of a repeatable query parameter, splitting comma-separated values."""
    values = []
    for raw in request.query_params.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values
