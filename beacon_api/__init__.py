"""The Beacon REST API: a FastAPI app over a `ChainReader`, served by hypercorn inside trio.

`beacon_api.chain` defines what the app reads from the node, `beacon_api.server` builds the app
(`create_app`) and serves it (`serve`).
"""
