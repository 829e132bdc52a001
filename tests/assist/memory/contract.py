"""The contract every VectorMemory backend passes (memory/base.py): subclass
:class:`VectorMemoryContract` and give it a ``memory`` fixture (and ``reopen`` for files)."""

import threading

import numpy as np
import pytest

from azuraforge.assist.embeddings import CharNgrams
from azuraforge.assist.memory import Filter
from azuraforge.errors import InvalidParameterError

EMBEDDER = CharNgrams(dim=512)
WORDS = [
    "elma",
    "armut",
    "kiraz",
    "muz",
    "çilek",
    "üzüm",
    "incir",
    "nar",
    "erik",
    "vişne",
    "kavun",
    "karpuz",
]


def sentences(count, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=4)) + f" {i}" for i in range(count)]


class VectorMemoryContract:
    def test_ids_are_new_and_a_deleted_id_is_never_given_again(self, memory):
        first = memory.add(["a one", "a two"], user="u")
        assert first == sorted(first) and len(set(first)) == 2
        assert memory.delete([first[-1]]) == 1
        again = memory.add(["a three"], user="u")
        assert again[0] > first[-1]

    def test_a_filtered_search_returns_k_rows_when_k_match_however_far_nearest_first(self, memory):
        memory.add([f"python kodu yaz {i}" for i in range(300)], user="near")
        far = memory.add(sentences(7, seed=1), user="far")
        hits = memory.search("python kodu yaz", k=5, where=Filter(user="far"))
        assert len(hits) == 5 and {h.memory.user for h in hits} == {"far"}
        assert {h.memory.id for h in hits} <= set(far)
        similarities = [h.similarity for h in hits]
        assert similarities == sorted(similarities, reverse=True)
        assert len(memory.search("x", k=50, where=Filter(user="far"))) == 7

    def test_search_agrees_with_an_exact_cosine_ranking(self, memory):
        texts = sentences(200, seed=2)
        ids = memory.add(texts, user="u")
        query = "kiraz muz nar"
        rows = EMBEDDER.embed(texts)
        expected = [ids[i] for i in np.argsort(-(rows @ EMBEDDER.embed([query])[0]))[:5]]
        hits = memory.search(query, k=5)
        assert [h.memory.id for h in hits] == expected
        np.testing.assert_allclose(
            [h.similarity for h in hits],
            np.sort(rows @ EMBEDDER.embed([query])[0])[::-1][:5],
            atol=1e-5,
        )

    def test_kind_and_time_filters_are_inclusive(self, memory):
        memory.add(["fact at 100"], user="u", kind="fact", created=100)
        memory.add(["note at 200"], user="u", kind="note", created=200, meta={"turn": 3})
        memory.add(["fact at 300"], user="u", kind="fact", created=300)
        texts = lambda where: sorted(h.memory.text for h in memory.search("at", 10, where))  # noqa: E731
        assert texts(Filter(kind="fact")) == ["fact at 100", "fact at 300"]
        assert texts(Filter(since=200)) == ["fact at 300", "note at 200"]
        assert texts(Filter(since=100, until=200, kind="note")) == ["note at 200"]
        assert memory.search("note", 1, Filter(kind="note"))[0].memory.meta == {"turn": 3}
        assert texts(Filter(user="nobody")) == []

    def test_delete_by_filter_and_stats(self, memory):
        memory.add(["one", "two"], user="ali", kind="fact")
        memory.add(["three"], user="bob")
        assert memory.stats()["count"] == 3
        assert memory.stats()["users"] == {"ali": 2, "bob": 1}
        assert memory.delete(where=Filter(user="ali")) == 2
        assert [h.memory.user for h in memory.search("one", 5)] == ["bob"]
        assert memory.stats()["kinds"] == {"note": 1}

    def test_read_and_recent_give_rows_back_newest_first_filtered_as_a_search(self, memory):
        first = memory.add(["old fact", "old note"], user="ali", kind="fact", created=100)
        last = memory.add(["new note"], user="ali", created=200, meta={"turn": 7})
        other = memory.add(["bob's"], user="bob")
        assert [m.text for m in memory.read([last[0], first[0], 10**6])] == [
            "old fact",
            "new note",
        ]
        assert memory.read([last[0]])[0].meta == {"turn": 7}
        assert [m.text for m in memory.recent(Filter(user="ali"))] == [
            "new note", "old note", "old fact",
        ]  # fmt: skip
        assert [m.id for m in memory.recent(limit=2)] == [other[0], last[0]]
        assert [m.text for m in memory.recent(Filter(user="ali", kind="fact", until=150))] == [
            "old note", "old fact",
        ]  # fmt: skip
        memory.delete(first)
        assert memory.read(first) == [] and len(memory.recent(Filter(user="ali"))) == 1

    @pytest.mark.parametrize(
        "call, message",
        [
            (lambda m: m.add("one string", user="u"), "a list of texts"),
            (lambda m: m.add(["  "], user="u"), "non-empty text"),
            (lambda m: m.add(["x" * 20_001], user="u"), "at most 20,000"),
            (lambda m: m.search("q", k=0), "k must be between 1"),
            (lambda m: m.recent(limit=0), "limit must be between 1"),
        ],
    )
    def test_bad_input_is_refused_and_nothing_is_stored(self, memory, call, message):
        with pytest.raises(InvalidParameterError, match=message):
            call(memory)
        assert memory.stats()["count"] == 0

    def test_threads_adding_at_once_get_distinct_ids(self, memory):
        got: list[int] = []

        def add(n):
            for i in range(10):
                got.extend(memory.add([f"thread {n} text {i}"], user=f"t{n}"))

        threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(got)) == 40 and memory.stats()["count"] == 40
