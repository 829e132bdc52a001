"""The store's engines: what each database's sessions are opened with (store/engine.py)."""

from __future__ import annotations

from sqlalchemy import text

from azuraforge.platform.store.engine import IDLE_IN_TRANSACTION_MS, make_engine


def test_a_postgresql_session_left_in_a_transaction_is_ended_by_the_server(
    postgres_url: str,
) -> None:
    """A store's PostgreSQL sessions carry an idle-in-transaction limit (a process stopped dead
    inside a transaction would otherwise hold back every event stream of the server)."""
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        shown = connection.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
    engine.dispose()
    assert shown == f"{IDLE_IN_TRANSACTION_MS // 60_000}min"
