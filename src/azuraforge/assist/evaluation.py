"""pass@1 of a code model: one answer a problem, run against the problem's tests.

:func:`pass_at_1` asks ``complete`` for one answer to each :class:`CodeProblem` (the prompt is
:func:`~azuraforge.assist.corpora.problem_prompt`), takes the code out of it with
:func:`extract_code`, and runs it with the tests in the :mod:`~azuraforge.assist.sandbox`, behind
the bubblewrap boundary the server's guardian runs answers' code behind
(:mod:`~azuraforge.assist.boundary`: no network, none of the machine's files), not under the
sandbox's resource limits alone::

    from azuraforge.assist.corpora import load_humaneval, problem_prompt
    from azuraforge.assist.evaluation import pass_at_1

    report = pass_at_1(load_humaneval(), lambda p: model.generate(problem_prompt(p)))
    print(report.summary())    # pass@1 41.5 % (68/164): passed 68, failed 80, ...

With one answer a problem, pass@1 is the share of problems whose answer passes every test
(the unbiased estimator of Chen et al., 2021, with n = k = 1). An answer is placed as follows:

- MBPP: the code is the whole program;
- HumanEval: code that defines the entry-point function at its top level is a whole
  answer and runs after the prompt (so the prompt's imports and helpers are there);
  anything else continues the prompt, as a function body does.
"""

from __future__ import annotations

import ast
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from azuraforge.assist.boundary import Bubblewrap
from azuraforge.assist.corpora import CodeProblem, parse_quietly
from azuraforge.assist.sandbox import STATUSES, Limits, Status, run_tests
from azuraforge.errors import InvalidParameterError

_FENCE = re.compile(r"^([ \t]*)```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.M | re.S)
_PYTHON_TAGS = {"", "python", "python3", "py", "py3"}
BOUNDARY = Bubblewrap()
"""What a model's code runs behind: the guardian's boundary (``bwrap`` on ``PATH``)."""


@dataclass(frozen=True)
class ProblemResult:
    """One problem's answer and how its run ended.

    Attributes
    ----------
    task_id
        The problem's id.
    status
        One of :data:`~azuraforge.assist.sandbox.STATUSES`.
    seconds
        Wall-clock seconds of the run.
    message
        What failed and how, or how many tests passed.
    program
        The code that ran before the tests (see the module docstring).
    cpu_seconds
        CPU seconds of the run, which a busy machine does not stretch as it does ``seconds``.
    """

    task_id: str
    status: Status
    seconds: float
    message: str
    program: str
    cpu_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether every test passed."""
        return self.status == "passed"


@dataclass(frozen=True)
class PassAtOneReport:
    """The results of :func:`pass_at_1`, in the problems' order.

    Attributes
    ----------
    results
        One :class:`ProblemResult` a problem.
    seconds
        Wall-clock seconds of the whole evaluation, answers included.
    """

    results: tuple[ProblemResult, ...]
    seconds: float

    @property
    def pass_at_1(self) -> float:
        """The share of problems whose answer passed, in [0, 1] (0 for no problem)."""
        return self.counts["passed"] / len(self.results) if self.results else 0.0

    @property
    def counts(self) -> dict[Status, int]:
        """How many problems ended in each status, every status listed."""
        counted = Counter(r.status for r in self.results)
        return {status: counted[status] for status in STATUSES}

    def failures(self) -> list[ProblemResult]:
        """The results that did not pass."""
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        """One line: pass@1 and the count of each status.

        >>> PassAtOneReport((ProblemResult("MBPP/11", "passed", 0.1, "", ""),), 0.2).summary()
        'pass@1 100.0 % (1/1): passed 1, failed 0, timeout 0, memory 0, error 0 in 0.2 s'
        """
        counts = ", ".join(f"{status} {n}" for status, n in self.counts.items())
        return (
            f"pass@1 {100 * self.pass_at_1:.1f} % ({self.counts['passed']}/{len(self.results)}): "
            f"{counts} in {self.seconds:.1f} s"
        )


def extract_code(answer: str, entry_point: str | None = None) -> str:
    """The code in a model's ``answer``.

    With Markdown fences, the first Python (or untagged) block, or the first that defines
    ``entry_point`` when one does; an unclosed fence (a cut answer) runs to the end, and an
    indented fence (in a list) takes its indentation off its lines. Without fences, the
    answer itself, its indentation kept (it may continue a function).

    Examples
    --------
    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
    'def f():\\n    return 1\\n'
    >>> extract_code("    return 1\\n")
    '    return 1\\n'
    >>> extract_code("```py\\nimport os\\n```\\n```python\\ndef g(): pass\\n```", "g")
    'def g(): pass\\n'
    """
    blocks = [
        _unindent(m[3], m[1]) for m in _FENCE.finditer(answer) if m[2].lower() in _PYTHON_TAGS
    ]
    if not blocks:
        return answer
    if entry_point is not None:
        for block in blocks:
            if _defines(block, entry_point):
                return block
    return blocks[0]


def solution_program(problem: CodeProblem, answer: str) -> str:
    """The program that runs before ``problem``'s tests, for a model's ``answer``.

    >>> p = CodeProblem("HumanEval/0", "def f(x):\\n    \\"\\"\\"Double x.\\"\\"\\"\\n",
    ...                 ("assert f(2) == 4",), "", "f", "")
    >>> print(solution_program(p, "    return 2 * x\\n"))
    def f(x):
        \"\"\"Double x.\"\"\"
        return 2 * x
    <BLANKLINE>
    """
    code = extract_code(answer, problem.entry_point)
    if not problem.task_id.startswith("HumanEval/"):
        return code
    if _defines(code, problem.entry_point):
        return f"{problem.prompt}\n\n{code}"
    return problem.prompt + code


def check(
    problem: CodeProblem, answer: str, *, limits: Limits | None = None,
    boundary: Bubblewrap | None = BOUNDARY,
) -> ProblemResult:  # fmt: skip
    """Run ``answer`` to ``problem`` against its tests in the sandbox.

    Parameters
    ----------
    problem
        The problem, with its tests and setup.
    answer
        A model's answer: code, or text with fenced code (see :func:`extract_code`).
    limits
        The sandbox's limits; its defaults when ``None``.
    boundary
        What the run is started behind: by default the guardian's bubblewrap boundary;
        ``None``, the sandbox's limits alone (code one trusts, such as a reference answer).

    Raises
    ------
    BoundaryUnavailableError
        If the boundary cannot run here (no ``bwrap``, no namespaces): the message says what
        to install or allow.
    """
    program = solution_program(problem, answer)
    bounded = None if boundary is None else boundary.ready()
    result = run_tests(program, problem.tests, setup=problem.setup, limits=limits,
                       boundary=bounded)  # fmt: skip
    return ProblemResult(
        problem.task_id, result.status, result.seconds, result.message, program, result.cpu_seconds
    )


def pass_at_1(
    problems: Sequence[CodeProblem],
    complete: Callable[[CodeProblem], str],
    *,
    limits: Limits | None = None,
    workers: int = 1,
    boundary: Bubblewrap | None = BOUNDARY,
) -> PassAtOneReport:
    """pass@1 of ``complete`` on ``problems``, one answer each.

    Parameters
    ----------
    problems
        The problems, e.g. ``python_expert_split().held_out``.
    complete
        Gives the answer to a problem (build its prompt with
        :func:`~azuraforge.assist.corpora.problem_prompt`). Called in this thread, in order;
        an exception it raises ends the evaluation.
    limits
        The sandbox's limits for each run; its defaults when ``None``.
    workers
        Runs at a time. Runs are timed by the wall clock: more workers than free cores can
        turn slow answers into timeouts.
    boundary
        What each run is started behind (:func:`check`): the guardian's bubblewrap boundary
        by default, made ready before the first answer is asked for.

    Raises
    ------
    InvalidParameterError
        ``workers`` below 1.
    BoundaryUnavailableError
        If the boundary cannot run here (before any answer is asked for).

    Examples
    --------
    >>> problem = CodeProblem("MBPP/2", "Add two numbers.", ("assert add(1, 2) == 3",), "",
    ...                       "add", "def add(a, b):\\n    return a + b\\n")
    >>> pass_at_1([problem], lambda p: p.reference).pass_at_1
    1.0
    """
    if workers < 1:
        raise InvalidParameterError(f"workers must be at least 1, got {workers}")
    if boundary is not None:
        boundary.ready()  # a machine without it fails now, not after the model's answers
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pass-at-1") as pool:
        futures: list[Future[ProblemResult]] = [
            pool.submit(check, problem, complete(problem), limits=limits, boundary=boundary)
            for problem in problems
        ]
        results = tuple(f.result() for f in futures)
    return PassAtOneReport(results, time.perf_counter() - start)


def _unindent(block: str, indent: str) -> str:
    lines = block.splitlines(keepends=True)
    return "".join(line.removeprefix(indent) for line in lines)


def _defines(code: str, name: str) -> bool:
    """Whether ``code`` parses and defines function ``name`` at its top level."""
    try:
        body = parse_quietly(code).body
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in body
    )
