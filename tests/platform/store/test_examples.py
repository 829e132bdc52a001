"""The assistant's examples as rows of a project, on SQLite and PostgreSQL (``on_both_databases``:
a merge is an upsert on a unique key): a failure proposed twice for one expert and prompt is
one example seen twice; a review's rules; what a fine-tune used; another project sees none."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.store import Store
from azuraforge.platform.store.chat import TurnWrite
from azuraforge.platform.store.examples import (
    APPROVED,
    CANDIDATE,
    HELD_OUT,
    TRAINED,
    ProposedExample,
)

pytestmark = pytest.mark.on_both_databases
TURN = TurnWrite(message="Sort a list.", answer="sorted!", intent="code_python", expert="python",
                 adapter=None, backend="local", reason="", first_token_ms=1.0,
                 tokens_per_s=1.0, tokens_in=1, tokens_out=1)  # fmt: skip


def _failure(
    prompt: str = "Sort a list.", *, turn: int | None = None, output: str | None = None,
    why: str = "marked bad by ana", expert: str = "python",
) -> ProposedExample:  # fmt: skip
    return ProposedExample(expert=expert, intent="code_python", prompt=prompt,
                           wrong_output="sorted!", why=why, output=output,
                           turn_id=turn)  # fmt: skip


def test_the_same_failure_is_one_example_seen_again(store: Store):
    talk = store.create_conversation("ana", "t", project="default")
    first, second = (store.add_chat_turn(talk.id, "ana", TURN, project="default").id
                     for _ in range(2))  # fmt: skip
    made = store.propose_example(_failure(turn=first), project="default")
    assert (made.status, made.seen, made.output, made.turn_id) == (CANDIDATE, 1, None, first)
    again = store.propose_example(
        _failure(turn=first, why="the guardian: error"), project="default"
    )  # the same turn: its check failed too
    assert (again.seen, again.why) == (1, "marked bad by ana; the guardian: error")
    corrected = store.propose_example(
        _failure(" Sort  a\nlist. ", turn=second, output="sorted(xs)", why="corrected by ana"),
        project="default",
    )
    assert (corrected.id, corrected.seen, corrected.turn_id) == (made.id, 2, second)
    assert (corrected.output, corrected.why) == ("sorted(xs)", "corrected by ana")
    other = store.propose_example(_failure(expert="general"), project="default")
    assert other.id != made.id  # another expert's failure is another example
    assert store.list_examples(project="default")[1] == 2


def test_proposals_at_once_merge(store: Store):
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: store.propose_example(_failure(), project="default"),
                             range(8)))  # fmt: skip
    assert len({e.id for e in made}) == 1
    assert store.get_example(made[0].id, project="default").seen == 1  # no turn: not counted


def test_a_review_keeps_the_right_output_and_approves_only_with_one(store: Store):
    made = store.propose_example(_failure(), project="default")
    with pytest.raises(InvalidParameterError, match="no right output"):
        store.review_example(made.id, reviewer="rev", status=APPROVED, project="default")
    with pytest.raises(InvalidParameterError, match="status must be one of"):
        store.review_example(made.id, reviewer="rev", status="maybe", project="default")
    approved = store.review_example(made.id, reviewer="rev", status=APPROVED, output="sorted(xs)",
                                    tests="assert 1", project="default")  # fmt: skip
    assert (approved.status, approved.reviewer, approved.tests) == (APPROVED, "rev", "assert 1")
    kept = store.propose_example(_failure(output="a user's later correction"), project="default")
    assert (kept.status, kept.output) == (APPROVED, "sorted(xs)")  # the review stands
    cleared = store.review_example(made.id, reviewer="rev", tests="", project="default")
    assert cleared.tests is None
    assert store.waiting_examples(project="default") == {"python": 1}
    store.use_examples(7, {made.id: TRAINED}, project="default")
    assert store.waiting_examples(project="default") == {}
    used = store.approved_examples("python", project="default")
    assert [(e.fine_tune, e.role) for e in used] == [(7, TRAINED)]
    store.use_examples(8, {made.id: HELD_OUT}, project="default")
    assert store.get_example(made.id, project="default").role == HELD_OUT


def test_another_project_sees_none_of_them(store: Store):
    made = store.propose_example(_failure(), project="default")
    store.create_project("beta")
    assert store.list_examples(project="beta") == ([], 0)
    with pytest.raises(NotFoundError):
        store.get_example(made.id, project="beta")
    with pytest.raises(NotFoundError):
        store.review_example(made.id, reviewer="bo", status="rejected", project="beta")
    store.use_examples(9, {made.id: TRAINED}, project="beta")  # names nothing of beta's
    assert store.get_example(made.id, project="default").fine_tune is None
