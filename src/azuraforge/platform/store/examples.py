"""The assistant's examples: its failures made training examples, rows of a project.

An answer a user marked bad or corrected, or whose code the guardian found failing, is
proposed (:meth:`ExampleStore.propose_example`) as a ``candidate``: the prompt, the wrong
output, why it was wrong, and the right output when a correction gave one. The same prompt
failing again for the same expert is the same example, seen once more (its newest turn,
wrong output and reason kept). A reviewer edits the right output (and may give tests),
then approves or rejects it; only approved examples with a right output are trained on, and
a fine-tune records which it trained on and which it held out to judge its adapter.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import AssistExample

CANDIDATE, APPROVED, REJECTED = "candidate", "approved", "rejected"
REVIEWS = (CANDIDATE, APPROVED, REJECTED)
"""An example's states: proposed, and a reviewer's two answers (an answer may be taken
back: an example goes back to ``candidate``)."""
TRAINED, HELD_OUT = "trained", "held out"
"""What a fine-tune did with an approved example."""
MAX_WHY = 2_000
"""The longest reason kept (characters)."""


@dataclass(frozen=True)
class ProposedExample:
    """A failure as the chat proposes it."""

    expert: str
    intent: str
    prompt: str
    wrong_output: str
    why: str
    output: str | None = None
    """The right output, when a user's correction gave it."""
    turn_id: int | None = None


@dataclass(frozen=True)
class ExampleRecord:
    """A stored example (the columns of :class:`~azuraforge.platform.store.models.
    AssistExample` but the project's id)."""

    id: int
    expert: str
    intent: str
    prompt: str
    wrong_output: str
    why: str
    output: str | None
    tests: str | None
    status: str
    turn_id: int | None
    seen: int
    reviewer: str | None
    reviewed_at: float | None
    fine_tune: int | None
    role: str | None
    created_at: float
    updated_at: float


def prompt_key(prompt: str) -> str:
    """The SHA-256 of ``prompt`` with its whitespace collapsed: two prompts that differ in
    spacing alone are one example.

    >>> prompt_key("Sort  a list") == prompt_key(" Sort a\\nlist ")
    True
    """
    return hashlib.sha256(" ".join(prompt.split()).encode("utf-8")).hexdigest()


class ExampleStore(StoreBase):
    """A project's examples (see the module docstring). Safe from any number of threads and
    processes."""

    def propose_example(self, proposed: ProposedExample, *, project: str) -> ExampleRecord:
        """Keep ``proposed`` as a candidate of ``project``, or, when its expert already has an
        example of the same prompt, count it there: seen once more (unless it is the same
        turn judged again: then its reasons are both kept), with this turn, wrong
        output and reason; its correction becomes the right output only where none was given
        yet (a reviewer's edit is never overwritten), and its review stands."""
        now = time.time()
        key = prompt_key(proposed.prompt)
        for _ in range(2):  # a concurrent proposal of the same prompt inserts first: merge
            try:
                with self._begin() as connection:
                    project_id = self.project_id(connection, project)
                    found = self._same(connection, project_id, proposed.expert, key)
                    if found is None:
                        return self._insert(connection, project_id, proposed, key, now)
                    return self._merge(connection, found, proposed, now)
            except IntegrityError:
                continue
        raise InvalidParameterError(f"example of {proposed.expert!r} could not be kept")

    def list_examples(
        self, *, project: str, status: str | None = None, expert: str | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[ExampleRecord], int]:  # fmt: skip
        """A page of ``project``'s examples (of ``status`` and ``expert`` when given), the
        newest first, and how many match."""
        if status is not None:
            _check_status(status)
        with self._read() as connection:
            where = [AssistExample.project_id == self.project_id(connection, project)]
            if status is not None:
                where.append(AssistExample.status == status)
            if expert is not None:
                where.append(AssistExample.expert == expert)
            total = connection.scalar(
                select(func.count()).select_from(AssistExample).where(*where)
            )
            rows = connection.execute(
                select(AssistExample.__table__).where(*where)
                .order_by(AssistExample.updated_at.desc(), AssistExample.id.desc())
                .limit(limit).offset(offset)
            ).all()  # fmt: skip
        return [_record(row) for row in rows], int(total or 0)

    def get_example(self, example_id: int, *, project: str) -> ExampleRecord:
        """Example ``example_id`` of ``project`` (:class:`NotFoundError` otherwise)."""
        with self._read() as connection:
            return self._example(connection, example_id, project)

    def review_example(
        self, example_id: int, *, reviewer: str, status: str | None = None,
        output: str | None = None, tests: str | None = None, project: str,
    ) -> ExampleRecord:  # fmt: skip
        """A reviewer's edit of example ``example_id``: its right ``output`` and ``tests``
        (each when given; ``""`` clears the tests), and its ``status``.

        Raises
        ------
        InvalidParameterError
            For a status that is not one of :data:`REVIEWS`, or an approval of an example
            without a right output (nothing to train on).
        NotFoundError
            If ``project`` has no such example.
        """
        if status is not None:
            _check_status(status)
        with self._begin() as connection:
            current = self._example(connection, example_id, project)
            values: dict[str, Any] = {"reviewer": reviewer, "reviewed_at": time.time()}
            if output is not None:
                values["output"] = output
            if tests is not None:
                values["tests"] = tests or None
            if status is not None:
                values["status"] = status
            right = values.get("output", current.output)
            if values.get("status", current.status) == APPROVED and not (right or "").strip():
                raise InvalidParameterError(
                    f"example {example_id} has no right output: give one (output) to approve it"
                )
            values["updated_at"] = values["reviewed_at"]
            connection.execute(
                update(AssistExample).where(AssistExample.id == example_id).values(**values)
            )
            return self._example(connection, example_id, project)

    def approved_examples(self, expert: str, *, project: str) -> list[ExampleRecord]:
        """``expert``'s approved examples in ``project``, oldest first."""
        with self._read() as connection:
            rows = connection.execute(
                select(AssistExample.__table__).where(
                    AssistExample.project_id == self.project_id(connection, project),
                    AssistExample.expert == expert,
                    AssistExample.status == APPROVED,
                ).order_by(AssistExample.id)
            ).all()  # fmt: skip
        return [_record(row) for row in rows]

    def waiting_examples(self, *, project: str) -> dict[str, int]:
        """How many approved examples of each expert in ``project`` no fine-tune used yet."""
        with self._read() as connection:
            rows = connection.execute(
                select(AssistExample.expert, func.count())
                .where(
                    AssistExample.project_id == self.project_id(connection, project),
                    AssistExample.status == APPROVED,
                    AssistExample.fine_tune.is_(None),
                )
                .group_by(AssistExample.expert)
            ).all()
        return {str(expert): int(count) for expert, count in rows}

    def use_examples(self, fine_tune: int, roles: Mapping[int, str], *, project: str) -> None:
        """Record that the fine-tune run ``fine_tune`` used these examples of ``project``,
        each in its role (:data:`TRAINED` or :data:`HELD_OUT`)."""
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            for example_id, role in roles.items():
                connection.execute(
                    update(AssistExample)
                    .where(AssistExample.id == example_id,
                           AssistExample.project_id == project_id)
                    .values(fine_tune=fine_tune, role=role)
                )  # fmt: skip

    def _same(
        self, connection: Connection, project_id: int, expert: str, key: str
    ) -> ExampleRecord | None:
        row = connection.execute(
            select(AssistExample.__table__).where(
                AssistExample.project_id == project_id,
                AssistExample.expert == expert,
                AssistExample.prompt_key == key,
            )
        ).first()
        return None if row is None else _record(row)

    def _insert(
        self, connection: Connection, project_id: int, proposed: ProposedExample, key: str,
        now: float,
    ) -> ExampleRecord:  # fmt: skip
        values = {
            "project_id": project_id, "expert": proposed.expert, "intent": proposed.intent,
            "prompt": proposed.prompt, "prompt_key": key, "wrong_output": proposed.wrong_output,
            "why": proposed.why[:MAX_WHY], "output": proposed.output, "tests": None,
            "status": CANDIDATE, "turn_id": proposed.turn_id, "seen": 1, "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        made = connection.execute(insert(AssistExample).values(**values)).inserted_primary_key
        assert made is not None
        row = connection.execute(
            select(AssistExample.__table__).where(AssistExample.id == int(made[0]))
        ).one()
        return _record(row)

    def _merge(
        self, connection: Connection, found: ExampleRecord, proposed: ProposedExample, now: float
    ) -> ExampleRecord:
        again = found.turn_id == proposed.turn_id
        why = proposed.why
        if again and proposed.why not in found.why:  # a verdict and the guardian's finding
            why = f"{found.why}; {proposed.why}"
        values: dict[str, Any] = {
            "seen": AssistExample.seen + int(not again), "wrong_output": proposed.wrong_output,
            "why": why[:MAX_WHY], "turn_id": proposed.turn_id, "updated_at": now,
        }  # fmt: skip
        if found.output is None and proposed.output:
            values["output"] = proposed.output
        connection.execute(
            update(AssistExample).where(AssistExample.id == found.id).values(**values)
        )
        row = connection.execute(
            select(AssistExample.__table__).where(AssistExample.id == found.id)
        ).one()
        return _record(row)

    def _example(self, connection: Connection, example_id: int, project: str) -> ExampleRecord:
        row = connection.execute(
            select(AssistExample.__table__).where(
                AssistExample.id == example_id,
                AssistExample.project_id == self.project_id(connection, project),
            )
        ).first()
        if row is None:
            raise self.not_found(f"example {example_id}", project)
        return _record(row)


def _check_status(status: str) -> None:
    if status not in REVIEWS:
        raise InvalidParameterError(f"status must be one of {', '.join(REVIEWS)}, got {status!r}")


def _record(row: Any) -> ExampleRecord:
    return ExampleRecord(**{f.name: getattr(row, f.name) for f in fields(ExampleRecord)})
