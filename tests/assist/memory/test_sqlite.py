"""SqliteVecMemory passes the VectorMemory contract, in RAM and in a file."""

import pytest

from azuraforge.assist.embeddings import CharNgrams
from azuraforge.assist.memory import SqliteVecMemory
from azuraforge.errors import SchemaMismatchError
from tests.assist.memory.contract import EMBEDDER, VectorMemoryContract


class TestSqliteVecMemory(VectorMemoryContract):
    @pytest.fixture
    def memory(self, tmp_path):
        store = SqliteVecMemory(tmp_path / "memory.db", EMBEDDER)
        yield store
        store.close()


def test_a_file_keeps_its_memories_and_refuses_another_embedder(tmp_path):
    path = tmp_path / "memory.db"
    store = SqliteVecMemory(path, EMBEDDER)
    store.add(["kız kardeşimin adı Elif"], user="ali", kind="fact")
    store.close()
    reopened = SqliteVecMemory(path, EMBEDDER)
    assert reopened.search("kardeşimin adı", 1)[0].memory.text == "kız kardeşimin adı Elif"
    assert reopened.add(["more"], user="ali") == [2]
    reopened.close()
    with pytest.raises(SchemaMismatchError, match="holds 'char-ngrams-2-3-4-512' embeddings"):
        SqliteVecMemory(path, CharNgrams(dim=256))


def test_an_in_memory_store_works_too():
    store = SqliteVecMemory(":memory:", EMBEDDER)
    store.add(["hello"], user="u")
    assert store.stats()["count"] == 1
