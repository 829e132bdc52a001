"""PgVectorMemory passes the VectorMemory contract on a real PostgreSQL with pgvector.

The machine's PostgreSQL has no pgvector: the tests use the private server of
``tests/pgvector.py``. Each test gets a table of its own on it.
"""

import itertools

import numpy as np
import pytest

from azuraforge.assist.embeddings import CharNgrams
from azuraforge.assist.memory import Filter
from azuraforge.assist.memory.postgres import PgVectorMemory
from azuraforge.errors import (
    InvalidParameterError,
    SchemaMismatchError,
    StoreUnavailableError,
    UnstorableValueError,
)
from tests.assist.memory.contract import EMBEDDER, VectorMemoryContract
from tests.pgvector import as_superuser

_tables = itertools.count()


@pytest.fixture
def table():
    return f"memory_{next(_tables)}"


@pytest.fixture
def store(pgvector_url, table):
    memory = PgVectorMemory(pgvector_url, EMBEDDER, table=table)
    yield memory
    memory.close()


class TestPgVectorMemory(VectorMemoryContract):
    @pytest.fixture
    def memory(self, store):
        return store


def test_a_table_keeps_its_memories_and_refuses_another_embedder(pgvector_url, table):
    store = PgVectorMemory(pgvector_url, EMBEDDER, table=table)
    first = store.add(["kız kardeşimin adı Elif"], user="ali", kind="fact")
    store.close()
    reopened = PgVectorMemory(pgvector_url, EMBEDDER, table=table)
    assert reopened.search("kardeşimin adı", 1)[0].memory.text == "kız kardeşimin adı Elif"
    assert reopened.add(["more"], user="ali")[0] > first[0]
    assert reopened.stats()["table"] == table and "postgres" in reopened.stats()["url"]
    reopened.close()
    with pytest.raises(SchemaMismatchError, match="holds 'char-ngrams-2-3-4-512' embeddings"):
        PgVectorMemory(pgvector_url, CharNgrams(dim=256), table=table)


def test_two_memories_on_one_server_share_ids_never_and_rows_never(pgvector_url, table):
    one = PgVectorMemory(pgvector_url, EMBEDDER, table=table)
    other = PgVectorMemory(pgvector_url, EMBEDDER, table=f"{table}_other")
    one.add(["only in one"], user="u")
    assert other.search("only in one", 5) == []
    for store in (one, other):
        store.close()


def test_a_selective_filter_among_many_rows_still_returns_k(store):
    # 6 rows of 1,006 are the user's: an approximate index would return fewer than k.
    rng = np.random.default_rng(0)
    store.add([f"satır {i} {rng.integers(1_000_000)}" for i in range(1_000)], user="many")
    mine = store.add([f"benim notum {i}" for i in range(6)], user="me", kind="fact")
    hits = store.search("satır 17", k=5, where=Filter(user="me", kind="fact"))
    assert len(hits) == 5 and {h.memory.id for h in hits} <= set(mine)


@pytest.mark.parametrize(
    "table, message",
    [
        ("Memories", "not allowed"),
        ("m; drop table x", "not allowed"),
        ('m"x', "not allowed"),
        ("1abc", "not allowed"),
        ("x" * 49, "not allowed"),
    ],
)
def test_unsafe_table_names_are_refused(table, message):
    with pytest.raises(InvalidParameterError, match=message):
        PgVectorMemory("postgresql://u@127.0.0.1:1/db", EMBEDDER, table=table)


def test_a_url_of_another_database_is_refused():
    with pytest.raises(InvalidParameterError, match=r"names 'sqlite'.*SqliteVecMemory"):
        PgVectorMemory("sqlite:///memory.db", EMBEDDER)


def test_a_server_that_is_not_there_is_unavailable_and_the_password_is_not_shown():
    with pytest.raises(StoreUnavailableError, match="cannot open the memory") as caught:
        PgVectorMemory("postgresql://me:secret@127.0.0.1:1/db", EMBEDDER)
    assert "secret" not in str(caught.value) and "***" in str(caught.value)


def test_what_postgresql_cannot_hold_is_refused_and_nothing_is_stored(store):
    with pytest.raises(UnstorableValueError, match="refused a value"):
        store.add(["fine", "a\x00b"], user="u")
    with pytest.raises(InvalidParameterError, match="meta must be JSON"):
        store.add(["x"], user="u", meta={"when": object()})
    assert store.stats()["count"] == 0


def test_a_user_who_may_not_add_pgvector_is_told_what_to_do(pgvector_url):
    # A database of its own owner, who is no superuser: pgvector is not a trusted extension.
    as_superuser(pgvector_url, "create role plain login", "create database plain owner plain")
    url = pgvector_url.replace("postgres:@/postgres", "plain:@/plain")
    with pytest.raises(StoreUnavailableError, match=r"has no pgvector .* CREATE EXTENSION"):
        PgVectorMemory(url, EMBEDDER)
