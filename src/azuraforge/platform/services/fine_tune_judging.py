"""How a fine-tune judges its adapter: both it and the champion answer the held-out examples
and the frozen set greedily through llama.cpp, each answer checked by its tests behind the
guardian's boundary, else matched to its right output; the paired decision of
:func:`~azuraforge.assist.promotion.decide` on those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from azuraforge.assist.boundary import Bubblewrap
from azuraforge.assist.evaluation import BOUNDARY
from azuraforge.assist.orchestrator import Expert
from azuraforge.assist.promotion import Decision, answer_passes, decide
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.services.guardian import LIMITS

if TYPE_CHECKING:
    from azuraforge.platform.services.fine_tunes import FineTuneConfig


@dataclass(frozen=True)
class Item:
    """One example an adapter is judged on: what it is asked, what is right, how to check."""

    prompt: str
    expected: str
    tests: tuple[str, ...] = ()
    setup: str = ""


def judge(
    base: Path, adapter: Path, champion: Path | None, expert: Expert, items: Sequence[Item],
    held: int, config: FineTuneConfig, ctx: StoreContext,
    run_code: Callable[[str, str, str], bool] | None,
) -> Decision | None:  # fmt: skip
    """The paired decision on ``adapter`` against ``champion`` (the base model when
    ``None``): both answer ``items`` (the first ``held`` the held-out examples, the rest the
    frozen set) greedily through llama.cpp, and each answer is checked (:func:`passes`);
    ``None`` when the job is asked to stop meanwhile."""
    from azuraforge.assist.backends import GenerationSettings, Message
    from azuraforge.assist.backends.llama import LlamaCppBackend

    backend = LlamaCppBackend(base, cache_prompts=False, threads=config.threads)
    try:
        backend.load_adapter("candidate", adapter)
        if champion is not None:
            backend.load_adapter("champion", champion)
        greedy = GenerationSettings(max_tokens=config.answer_tokens, temperature=0.0, seed=0)

        def answers(name: str | None) -> list[bool]:
            found = []
            for number, item in enumerate(items, start=1):
                if ctx.should_stop():
                    raise _StoppedError
                chat = [Message("system", expert.system_prompt), Message("user", item.prompt)]
                answer = backend.generate(chat, greedy, adapter=name)
                found.append(passes(answer, item, run_code))
                ctx.progress(number, len(items), f"judging {name or 'the base model'}")
            return found

        old, new = answers("champion" if champion is not None else None), answers("candidate")
    except _StoppedError:
        return None
    finally:
        backend.close()
    return decide(old[:held], new[:held], old[held:], new[held:], alpha=config.significance)


class _StoppedError(Exception):
    """The job was asked to stop while its adapter was judged."""


def passes(answer: str, item: Item, run_code: Callable[[str, str, str], bool] | None) -> bool:
    """Whether ``answer`` passes ``item``: its tests run by ``run_code(code, tests, setup)``
    where it has tests, else the answer matches its right output
    (:func:`~azuraforge.assist.promotion.answer_passes`)."""
    if not item.tests or run_code is None:
        return answer_passes(answer, item.expected)
    return answer_passes(
        answer, item.expected, tests="\n".join(item.tests),
        run=lambda code, tests: run_code(code, tests, item.setup),
    )  # fmt: skip


def code_runner(boundary: Bubblewrap = BOUNDARY) -> Callable[[str, str, str], bool]:
    """Run an answer's code, its setup, then its tests behind ``boundary`` (the guardian's
    bubblewrap boundary, as :mod:`azuraforge.assist.evaluation` runs a model's code: no
    network, none of the machine's files) under the guardian's limits: whether they passed.

    Raises
    ------
    BoundaryUnavailableError
        If the boundary cannot run here (no code runs unguarded), before anything else.
    """
    from azuraforge.assist.sandbox import run_tests

    boundary.ready()

    def run(code: str, tests: str, setup: str) -> bool:
        result = run_tests(code, tests.splitlines(), setup=setup, limits=LIMITS,
                           boundary=boundary)  # fmt: skip
        return result.passed

    return run
