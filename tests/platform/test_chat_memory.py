"""The chat's long-term memory on PostgreSQL with pgvector (the cluster path; the embedded
one, sqlite-vec, runs through the chat routes' server in tests/platform/api/routes): each
user's memories in each project are theirs alone, a recall finds the nearest, a forget
removes only one's own; and a server without pgvector leaves the chat answering without
memory, saying why once in the log."""

import logging

import pytest

from azuraforge.assist.embeddings import CharNgrams
from azuraforge.errors import NotFoundError
from azuraforge.platform.services.chat_memory import ChatMemory, MemoryUnavailableError
from tests.platform.fixtures import POSTGRES_SERVER

EMBEDDER = CharNgrams(dim=256)


def test_memories_are_each_users_own_in_each_project_on_pgvector(pgvector_url: str):
    memory = ChatMemory(pgvector_url, lambda: EMBEDDER)
    memory.remember("default", "ada", "my sister is called Elif", {"conversation": 1})
    memory.remember("default", "ada", "I ride a red bicycle", {"conversation": 1})
    memory.remember("beta", "ada", "my sister in beta is Zeynep", {"conversation": 2})
    memory.remember("default", "bob", "my sister is called Derya", {"conversation": 3})
    recalled = memory.recall("default", "ada", "what is my sister called",
                             known={"I ride a red bicycle"})  # fmt: skip
    assert [hit.memory.text for hit in recalled] == ["my sister is called Elif"]
    assert [m.text for m in memory.recent("default", "ada", 10)] == [
        "I ride a red bicycle", "my sister is called Elif",
    ]  # fmt: skip
    bobs = memory.recent("default", "bob", 1)[0].id
    with pytest.raises(NotFoundError, match=f"no memory {bobs} of yours"):
        memory.forget("default", "ada", bobs)
    with pytest.raises(NotFoundError):
        memory.forget("beta", "bob", bobs)  # the same user elsewhere is not the owner
    memory.forget("default", "bob", bobs)
    assert memory.forget_all("default", "ada") == 2
    assert [m.text for m in memory.recent("beta", "ada", 10)] == ["my sister in beta is Zeynep"]
    memory.close()


def test_without_pgvector_the_chat_goes_on_without_memory_and_says_why(
    caplog: pytest.LogCaptureFixture,
):
    memory = ChatMemory(POSTGRES_SERVER, lambda: EMBEDDER)  # the machine's: no pgvector
    with caplog.at_level(logging.WARNING, "azuraforge.platform.services.chat_memory"):
        memory.remember("default", "ada", "kept?", {})
        assert memory.recall("default", "ada", "kept?") == []
    assert "cannot open it" in caplog.text and "pgvector" in caplog.text
    assert caplog.text.count("cannot open it") == 1  # tried again a minute later, not each time
    with pytest.raises(MemoryUnavailableError, match="unavailable"):
        memory.recent("default", "ada", 10)
