"""Duties run on one process of a store at a time: a holder cut off from the store stops
before another can take the duty, so the two never run it at once. (Two real processes, one
SIGKILLed and the other taking over: tests/platform/test_server.py.)"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from azuraforge.platform.jobs.duties import Duties, Duty, DutyLease
from azuraforge.platform.store import Store
from tests.platform.fixtures import SHORT, short_settings
from tests.platform.jobs.conftest import TcpProxy, wait_for

TTL, RENEW = SHORT["duty_ttl"], SHORT["duty_renew_interval"]
"""The duty's lease, and how often it is renewed (seconds: the tests' short settings)."""
EVERY = 0.02
"""Seconds between two runs of the duty's task."""
SLACK = 1.5
"""Seconds a takeover may take past the lease and a renewal on a busy 2-core machine."""


def test_a_holder_cut_off_from_the_store_stops_before_another_takes_the_duty_over(
    postgres_url: str, postgres_proxy: TcpProxy, tmp_path: Path
) -> None:
    settings = short_settings(postgres_url, tmp_path / "home")
    duty = f"test-{uuid.uuid4().hex[:8]}"  # the session's database keeps other tests' duties
    ran: list[tuple[str, float]] = []
    stores = {"cut off": Store(postgres_proxy.url(postgres_url)), "direct": Store(postgres_url)}
    offered = {
        who: Duties(settings, [Duty(DutyLease(store, duty, who, settings), EVERY,
                                    lambda who=who: ran.append((who, time.monotonic())))])
        for who, store in stores.items()
    }  # fmt: skip
    try:
        offered["cut off"].start()
        wait_for(lambda: ran)
        offered["direct"].start()
        since = time.monotonic()
        wait_for(lambda: ran[-1][1] > since + 2 * TTL, timeout=10)
        assert {who for who, _ in ran} == {"cut off"}
        postgres_proxy.cut()
        cut = time.monotonic()
        wait_for(lambda: ran[-1][0] == "direct", timeout=TTL + RENEW + 10)
        last = max(at for who, at in ran if who == "cut off")
        first = min(at for who, at in ran if who == "direct")
        # The holder stopped by its own clock, within a lease less a renewal of the cut (its
        # last renewal was before it); the other took over only a renewal's time later.
        assert last < cut + TTL - RENEW + EVERY
        assert first - last > RENEW / 2
        assert first - cut < TTL + RENEW + SLACK
    finally:
        for duties in offered.values():
            duties.stop()
        for store in stores.values():
            store.close()
