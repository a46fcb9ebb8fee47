"""Serving an API app with uvicorn, the same way for every simulated vendor."""

from __future__ import annotations

import importlib.util
from typing import Any


def serve(app: Any, *, host: str, port: int, log_level: str, access_log: bool) -> None:
    """Run ``app`` until stopped: one worker, no lifespan, no server header."""
    import uvicorn  # late: --help and configuration errors answer without loading it

    # httptools and uvloop roughly double throughput over h11/asyncio; fall back if absent.
    uvicorn.run(
        app,
        host=host,
        port=port,
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        lifespan="off",
        access_log=access_log,
        log_level=log_level,
        server_header=False,
        workers=None,
    )
