"""``/metrics``: the server's Prometheus metrics (docs/operations.md), for Prometheus with the
scrape token or a client on the server's machine (:func:`~azuraforge.platform.api.access.
may_scrape`). Not in the OpenAPI: Prometheus's text format is its reference."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from azuraforge.platform.api.access import SCRAPE
from azuraforge.platform.api.prometheus import StoreMetrics
from azuraforge.platform.prometheus import exposition

router = APIRouter(include_in_schema=False)


@router.get("/metrics", dependencies=[SCRAPE])
async def metrics(request: Request) -> Response:
    """Every process's counts of this server and the store's census, in Prometheus's text
    format."""
    body, content_type = await run_in_threadpool(
        exposition, [StoreMetrics(request.app.state.store)]
    )
    return Response(body, media_type=content_type)
