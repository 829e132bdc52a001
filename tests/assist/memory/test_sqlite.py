"""SqliteVecMemory passes the VectorMemory contract, in RAM and in a file, through the exact
scan and through the first pass in RAM; files of schema 1 are upgraded."""

import numpy as np
import pytest

from azuraforge.assist.embeddings import CharNgrams
from azuraforge.assist.memory import Filter, SqliteVecMemory
from azuraforge.assist.memory.sqlite import _connect
from azuraforge.errors import InvalidParameterError, SchemaMismatchError
from tests.assist.memory.contract import EMBEDDER, VectorMemoryContract


class TestSqliteVecMemory(VectorMemoryContract):
    @pytest.fixture
    def memory(self, tmp_path):
        store = SqliteVecMemory(tmp_path / "memory.db", EMBEDDER)
        yield store
        store.close()


class TestSqliteVecMemoryFirstPass(VectorMemoryContract):
    """Every search through the index in RAM (no partition is small enough to scan)."""

    @pytest.fixture
    def memory(self, tmp_path):
        store = SqliteVecMemory(tmp_path / "memory.db", EMBEDDER, exact_rows=0)
        yield store
        store.close()


class Table:
    """An embedder that looks texts up: ``"row 12"`` is row 12 of ``rows``."""

    name = "table-32"
    dim = 32

    def __init__(self, rows):
        self.rows = rows

    def embed(self, texts):
        return self.rows[[int(t.split()[1]) for t in texts]]


def clustered(count, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, Table.dim))
    rows = centers[rng.integers(0, 20, count)] + rng.normal(size=(count, Table.dim)) * 0.7
    rows += 3.0  # a mean shared by all rows, as real embeddings have
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def filled(tmp_path, rows, stored=None, **settings):
    """A memory of the first ``stored`` rows, in batches of 500: the first half user "big",
    the rest "small"; kinds note, fact, note, ...; created = the batch's first row."""
    store = SqliteVecMemory(tmp_path / "memory.db", Table(rows), **settings)
    stored = stored or len(rows)
    half = stored // 2
    for at in range(0, stored, 500):
        texts = [f"row {i}" for i in range(at, min(at + 500, stored))]
        kind = "fact" if at % 1000 else "note"
        store.add(texts, user="big" if at < half else "small", kind=kind, created=at)
    return store


def test_the_first_pass_finds_nearly_all_true_neighbours_in_a_large_partition(tmp_path):
    rows = clustered(4000)
    store = filled(tmp_path, rows, exact_rows=100, candidates=256)
    queries = range(3000, 3040)  # rows of "small" used as queries of "big"
    found = 0
    for q in queries:
        hits = store.search(f"row {q}", k=5, where=Filter(user="big"))
        ids = [h.memory.id - 1 for h in hits]  # ids start at 1, rows at 0
        assert len(hits) == 5 and {h.memory.user for h in hits} == {"big"}
        similarities = [h.similarity for h in hits]
        assert similarities == sorted(similarities, reverse=True)
        np.testing.assert_allclose(similarities, rows[ids] @ rows[q], atol=1e-6)
        found += len(set(ids) & set(np.argsort(-(rows[:2000] @ rows[q]))[:5]))
    assert found / (5 * len(queries)) >= 0.95
    store.close()


def test_a_filter_matching_few_rows_of_a_large_partition_is_ranked_exactly(tmp_path):
    rows = clustered(4000)
    store = filled(tmp_path, rows, stored=3950, exact_rows=100, candidates=256)
    store.add([f"row {i}" for i in range(3950, 4000)], user="big", kind="rare")
    hits = store.search("row 0", k=10, where=Filter(user="big", kind="rare"))  # 50 <= 80
    expected = 3950 + np.argsort(-(rows[3950:] @ rows[0]))[:10]
    assert [h.memory.id - 1 for h in hits] == expected.tolist()
    store.close()


def test_the_first_pass_follows_another_connections_writes(tmp_path):
    rows = clustered(400)
    first = filled(tmp_path, rows, stored=300, exact_rows=0)
    other = SqliteVecMemory(tmp_path / "memory.db", Table(rows))
    assert first.search("row 350", k=1)[0].memory.id != 351  # builds the index
    assert other.add(["row 350"], user="big") == [301]
    assert other.delete([1]) == 1
    assert first.search("row 350", k=1)[0].memory.text == "row 350"
    assert 1 not in {h.memory.id for h in first.search("row 0", k=50)}
    assert first.add(["row 351"], user="big") == [302]
    assert first.search("row 351", k=1)[0].memory.id == 302
    first.close()
    other.close()


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(InvalidParameterError, match="exact_rows must be >= 0, got -1"):
        SqliteVecMemory(tmp_path / "m.db", EMBEDDER, exact_rows=-1)
    with pytest.raises(InvalidParameterError, match="candidates must be >= 1, got 0"):
        SqliteVecMemory(tmp_path / "m.db", EMBEDDER, candidates=0)


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


def write_schema_1(path, texts):
    """A file as AzuraForge wrote it before memory_rows (schema 1)."""
    db = _connect(str(path))
    db.execute("create table memory_info (key text primary key, value text)")
    db.execute(
        "create virtual table memories using vec0(id integer primary key, embedding "
        f"float[{EMBEDDER.dim}] distance_metric=cosine, user text partition key, kind text, "
        "created float, +text text, +meta text)"
    )
    db.executemany(
        "insert into memory_info values (?, ?)",
        [("embedder", EMBEDDER.name), ("dim", str(EMBEDDER.dim)), ("next_id", "4")],
    )
    db.executemany(
        "insert into memories values (?, ?, 'ali', 'fact', 100.0, ?, '{\"turn\": 1}')",
        [(i, EMBEDDER.embed([t])[0].tobytes(), t) for i, t in zip((1, 3), texts, strict=True)],
    )
    db.close()


@pytest.mark.parametrize("exact_rows", [20_000, 0])
def test_a_schema_1_file_is_upgraded_when_opened(tmp_path, exact_rows):
    path = tmp_path / "memory.db"
    write_schema_1(path, ["kız kardeşimin adı Elif", "en sevdiğim renk mavi"])
    store = SqliteVecMemory(path, EMBEDDER, exact_rows=exact_rows)
    hit = store.search("kardeşimin adı", 1, Filter(user="ali"))[0]
    assert (hit.memory.id, hit.memory.meta) == (1, {"turn": 1})
    assert store.stats()["users"] == {"ali": 2}
    assert store.add(["yeni"], user="ali") == [4]
    assert store.delete(where=Filter(kind="fact")) == 2
    store.close()
    db = _connect(str(path))
    assert db.execute("select value from memory_info where key = 'schema'").fetchone() == ("2",)


def test_a_file_of_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "memory.db"
    SqliteVecMemory(path, EMBEDDER).close()
    db = _connect(str(path))
    db.execute("update memory_info set value = '3' where key = 'schema'")
    db.close()
    with pytest.raises(SchemaMismatchError, match="has schema 3, this AzuraForge reads up to 2"):
        SqliteVecMemory(path, EMBEDDER)


def test_an_in_memory_store_works_too():
    store = SqliteVecMemory(":memory:", EMBEDDER)
    store.add(["hello"], user="u")
    assert store.stats()["count"] == 1
