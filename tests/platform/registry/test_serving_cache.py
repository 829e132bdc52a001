"""The API's model cache: a moved alias is followed within two ``alias_refresh`` even when
its refresher thread does not run (a busy event loop can starve it of the GIL), and a store
that goes down leaves the served references answering from what they resolved to last."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from azuraforge.errors import StoreUnavailableError
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.services.registry import ModelRef
from azuraforge.platform.services.serving import ModelServer
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from tests.platform.jobs.conftest import TcpProxy
from tests.platform.registry.conftest import call, registered

CHAMPION = ModelRef.parse("weather@champion")


def test_a_request_follows_a_moved_alias_when_the_refresher_is_stalled(
    api: TestClient,
    runs: list[ExperimentRecord],
    settings: Settings,
    store: Store,
    blobs: BlobStore,
) -> None:
    registered(api, runs)
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 1})
    server = ModelServer(store, settings, blobs)
    server.close()  # no refresher thread: only requests resolve
    assert server.get(CHAMPION).version.version == 1
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 2})
    assert server.get(CHAMPION).version.version == 1  # checked just now: from memory
    time.sleep(2 * settings.alias_refresh + 0.05)
    assert server.get(CHAMPION).version.version == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_store_gone_down_leaves_served_references_answering(
    api: TestClient,
    runs: list[ExperimentRecord],
    settings: Settings,
    blobs: BlobStore,
    database_url: str,
) -> None:
    registered(api, runs)
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 2})
    proxy = TcpProxy(("127.0.0.1", 5432))
    through_proxy = Store(proxy.url(database_url))
    server = ModelServer(through_proxy, settings, blobs)
    try:
        assert server.get(CHAMPION).version.version == 2
        proxy.cut()
        time.sleep(2 * settings.alias_refresh + 0.05)
        assert server.get(CHAMPION).version.version == 2
        with pytest.raises(StoreUnavailableError):
            server.get(ModelRef.parse("weather/1"))  # never resolved: nothing to fall back on
    finally:
        server.close()
        through_proxy.close()
        proxy.close()
