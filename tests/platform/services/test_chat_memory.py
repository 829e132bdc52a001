"""The chat's long-term memory on PostgreSQL with pgvector (the cluster path; the embedded
one, sqlite-vec, runs through the chat routes' server in tests/platform/api/routes): each
user's memories in each project are theirs alone, a recall finds the nearest, a forget
removes only one's own; and a memory that cannot be opened (a server without pgvector, a
file it cannot make) leaves the chat answering without it, saying why in the log."""

import itertools
import logging

import pytest
from sqlalchemy.engine import make_url

from azuraforge.assist.embeddings import CharNgrams
from azuraforge.errors import NotFoundError
from azuraforge.platform.services.chat_memory import ChatMemory, MemoryUnavailableError
from tests.pgvector import as_superuser
from tests.platform.fixtures import POSTGRES_SERVER

EMBEDDER = CharNgrams(dim=256)
_databases = itertools.count()


@pytest.fixture
def own_database(pgvector_url: str) -> str:
    """A new database on the pgvector server: the memory's table there is this test's (the
    server's default database holds the chat routes' table, of another embedder)."""
    name = f"chat_memory_{next(_databases)}"
    as_superuser(pgvector_url, f"create database {name}")
    return make_url(pgvector_url).set(database=name).render_as_string(hide_password=False)


def test_memories_are_each_users_own_in_each_project_on_pgvector(own_database: str):
    memory = ChatMemory(own_database, lambda: EMBEDDER)
    ada, bob = memory.of("default", "ada"), memory.of("default", "bob")
    ada.remember("my sister is called Elif", {"conversation": 1})
    ada.remember("I ride a red bicycle", {"conversation": 1})
    memory.of("beta", "ada").remember("my sister in beta is Zeynep", {"conversation": 2})
    bob.remember("my sister is called Derya", {"conversation": 3})
    recalled = ada.recall("what is my sister called", known={"I ride a red bicycle"})
    assert [hit.memory.text for hit in recalled] == ["my sister is called Elif"]
    assert [m.text for m in ada.recent(10)] == ["I ride a red bicycle", "my sister is called Elif"]
    bobs = bob.recent(1)[0].id
    with pytest.raises(NotFoundError, match=f"no memory {bobs} of yours"):
        ada.forget(bobs)
    with pytest.raises(NotFoundError):
        memory.of("beta", "bob").forget(bobs)  # the same user elsewhere is not the owner
    bob.forget(bobs)
    assert ada.forget_all() == 2
    assert [m.text for m in memory.of("beta", "ada").recent(10)] == ["my sister in beta is Zeynep"]
    memory.close()


def test_without_pgvector_the_chat_goes_on_without_memory_and_says_why(
    caplog: pytest.LogCaptureFixture,
):
    memory = ChatMemory(POSTGRES_SERVER, lambda: EMBEDDER)  # the machine's: no pgvector
    ada = memory.of("default", "ada")
    with caplog.at_level(logging.WARNING, "azuraforge.platform.services.chat_memory"):
        ada.remember("kept?", {})
        assert ada.recall("kept?") == []
    assert "cannot open it" in caplog.text and "pgvector" in caplog.text
    assert caplog.text.count("cannot open it") == 1  # tried again a minute later, not each time
    with pytest.raises(MemoryUnavailableError, match="try again in a minute") as refused:
        ada.recent(10)
    assert "5432" not in str(refused.value)  # the server's address stays in the log


def test_a_memory_file_that_cannot_be_made_leaves_the_chat_going(
    tmp_path, caplog: pytest.LogCaptureFixture
):
    memory = ChatMemory(f"sqlite:///{tmp_path}/no/such/folder/memory.db", lambda: EMBEDDER)
    with caplog.at_level(logging.WARNING, "azuraforge.platform.services.chat_memory"):
        memory.of("default", "ada").remember("kept?", {})
    assert "cannot open it: OperationalError" in caplog.text
    with pytest.raises(MemoryUnavailableError):
        memory.of("default", "ada").forget_all()
