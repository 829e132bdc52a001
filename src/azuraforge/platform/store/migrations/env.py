"""Alembic environment: migrations run on the engine the store hands over (never a URL here).

On SQLite a batch migration rebuilds a table: it copies the rows into a new table and drops
the old one. With foreign keys on, that drop deletes every row referring to the table (ON
DELETE CASCADE: a run's metric points and events), so they are off while migrations run.
"""

from alembic import context

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    raw = connection.connection.dbapi_connection
    if sqlite and raw is not None:  # outside a transaction, where the pragma takes effect
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(connection=connection, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")
