"""The short-term buffer stays within its token budget; RAG context fits its budget."""

import pytest

from azuraforge.assist.memory import Hit, Memory, ShortTermBuffer, rag_context
from azuraforge.errors import InvalidParameterError


def characters(text):
    return len(text)


def test_the_buffer_never_exceeds_its_budget_and_keeps_the_newest_turns():
    buffer = ShortTermBuffer(50, characters)
    for i in range(30):
        buffer.add("user" if i % 2 == 0 else "assistant", f"message number {i}")
        assert buffer.tokens == sum(t.tokens for t in buffer.turns()) <= 50
    assert [t.text for t in buffer.turns()] == ["message number 28", "message number 29"]


def test_a_turn_longer_than_the_budget_keeps_its_end():
    buffer = ShortTermBuffer(10, characters)
    buffer.add("user", "early")
    buffer.add("user", "0123456789abcdef")
    assert [t.text for t in buffer.turns()] == ["6789abcdef"] and buffer.tokens == 10


def test_an_overflow_trims_down_to_trim_to_so_the_kept_beginning_changes_rarely():
    buffer = ShortTermBuffer(40, characters, trim_to=20)
    beginnings = []
    for i in range(12):
        buffer.add("user", f"turn {i:02d} text")  # 12 characters each
        assert buffer.tokens <= 40
        beginnings.append(buffer.turns()[0].text)
    # Full at 3 turns (36), the 4th overflows and trims to one turn (12 <= 20): the first
    # kept turn changes at every third turn, not at every turn.
    assert beginnings == [f"turn {i:02d} text" for i in (0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9)]
    buffer.add("assistant", "x" * 35)  # longer than trim_to: the newest turn always stays
    assert [t.text for t in buffer.turns()] == ["x" * 35]


def test_a_trimmed_history_begins_with_the_user_and_trim_to_zero_keeps_the_newest_turn():
    buffer = ShortTermBuffer(30, characters, trim_to=20)
    for role, text in [("user", "question one"), ("assistant", "a1"), ("user", "q2")]:
        buffer.add(role, text)
    buffer.add("assistant", "a second answer!")  # 32 > 30: down to 20 leaves "a1" first
    assert [t.role for t in buffer.turns()] == ["user", "assistant"]
    assert [t.text for t in buffer.turns()] == ["q2", "a second answer!"]
    nothing_kept = ShortTermBuffer(10, characters, trim_to=0)
    nothing_kept.add("user", "hello")
    nothing_kept.add("user", "again!")
    assert [t.text for t in nothing_kept.turns()] == ["again!"]


def test_clear_and_bad_arguments():
    buffer = ShortTermBuffer(10, characters)
    buffer.add("assistant", "hi")
    buffer.clear()
    assert buffer.turns() == [] and buffer.tokens == 0
    with pytest.raises(InvalidParameterError, match="role must be"):
        buffer.add("system", "x")
    with pytest.raises(InvalidParameterError, match="max_tokens must be >= 1"):
        ShortTermBuffer(0, characters)
    with pytest.raises(InvalidParameterError, match="trim_to must be between 0 and max_tokens"):
        ShortTermBuffer(10, characters, trim_to=11)


def test_rag_context_takes_the_nearest_memories_that_fit():
    hits = [Hit(Memory(i, f"memory {i}", "u", "fact", 0.0), 1.0 - i / 10) for i in range(5)]
    context = rag_context(hits, 60, characters)
    assert context.splitlines()[1:] == ["- memory 0", "- memory 1"]
    assert len(context) - context.count("\n") <= 60
    assert rag_context(hits, 5, characters) == ""
