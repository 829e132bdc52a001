"""The experts' data: Python problems with tests, coding and Turkish instructions, and the
splits that keep evaluation problems out of training.

Every file comes through :func:`~azuraforge.learn.datasets.fetch` (mirrors, cache, then the
pinned URL, SHA-256 checked): ``mbpp``, ``humaneval``, ``code-alpaca-2k`` and
``turkish-instructions``. Problems are :class:`CodeProblem`, instructions :class:`Instruction`,
both plain frozen dataclasses with Windows line endings turned into ``\\n``::

    from azuraforge.assist.corpora import python_expert_split

    split = python_expert_split()
    examples = split.training_examples()    # MBPP train as prompt -> code, and Code Alpaca
    split.held_out                          # MBPP test (11-510) and HumanEval: evaluate only

The Python expert's split follows MBPP's standard one (Austin et al., 2021): task ids 1-10
are the few-shot prompt examples (in no split here), 11-510 the test split, 511-600
validation and 601-974 training. HumanEval is held out whole. A training example is dropped
when its statement equals a held-out problem's (lower-cased, letters and digits only) or its
answer equals a held-out reference (lower-cased, layout ignored): MBPP's training split
repeats three test statements (602, 704, 872) and two test solutions (608, 841). This is
exact-match decontamination; it does not find a paraphrase. Examples without an answer (two
in Code Alpaca) are dropped too.

For data without a standard split (the Turkish instructions) :func:`split_held_out` holds out
a seeded fraction chosen by a hash of each instruction, so an example keeps its side however
the data is ordered, and when it grows.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azuraforge.errors import DataFormatError, InvalidParameterError
from azuraforge.learn.datasets import fetch

MBPP_SPLITS: dict[str, range] = {
    "prompt": range(1, 11),
    "test": range(11, 511),
    "validation": range(511, 601),
    "train": range(601, 975),
}
"""MBPP's standard split by task id: few-shot prompt examples, test, validation, train."""

_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")

TURKISH_FILES = (
    "finance_turkish_dataset.json",
    "machine_learning_turkish_dataset.json",
    "crypto_money_turkish_dataset.json",
)


@dataclass(frozen=True)
class CodeProblem:
    """A Python problem whose answer is checked by running tests.

    Attributes
    ----------
    task_id
        ``"MBPP/<n>"`` or ``"HumanEval/<n>"``.
    prompt
        What the problem asks. MBPP: the one-sentence statement; HumanEval: the code to
        complete (imports, the function's header and its docstring).
    tests
        Python sources run one after another after the answer; each raises if it fails.
        MBPP: three ``assert`` lines; HumanEval: the ``check`` function, then its call.
    setup
        Source run between the answer and the tests (two MBPP problems build a tree in it).
    entry_point
        The name of the function the tests call.
    reference
        The canonical answer as a complete program (HumanEval: prompt and solution).
    """

    task_id: str
    prompt: str
    tests: tuple[str, ...]
    setup: str
    entry_point: str
    reference: str


@dataclass(frozen=True)
class Instruction:
    """One instruction-tuning example (the Alpaca format): what to do, its input, the answer.

    >>> Instruction("Topla", "2 ve 3", "5").input
    '2 ve 3'
    """

    instruction: str
    input: str
    output: str


@dataclass(frozen=True)
class PythonExpertSplit:
    """The Python expert's data, with no problem on two sides (see the module docstring).

    Attributes
    ----------
    train_problems
        MBPP's training split, without the problems that repeat a held-out one.
    instructions
        Code Alpaca 2k, without examples that repeat a held-out problem or have no answer.
    validation
        MBPP's validation split: to choose a checkpoint or a setting, never to report.
    held_out
        MBPP's test split, then all of HumanEval: the problems pass@1 is reported on.
    dropped
        What was removed and why: ``"MBPP/602 repeats MBPP/217"``,
        ``"Code Alpaca #237 has no answer"``.
    """

    train_problems: tuple[CodeProblem, ...]
    instructions: tuple[Instruction, ...]
    validation: tuple[CodeProblem, ...]
    held_out: tuple[CodeProblem, ...]
    dropped: tuple[str, ...]

    def training_examples(self) -> list[Instruction]:
        """MBPP training problems as prompt -> reference (see :func:`as_instruction`), then
        the Code Alpaca instructions."""
        return [as_instruction(p) for p in self.train_problems] + list(self.instructions)


def load_mbpp(split: str | None = None, *, path: str | Path | None = None) -> list[CodeProblem]:
    """MBPP's problems in task-id order, all 974 or those of one of :data:`MBPP_SPLITS`.

    Parameters
    ----------
    split
        ``"prompt"``, ``"test"``, ``"validation"``, ``"train"``, or ``None`` for all.
    path
        A ``mbpp.jsonl`` file to read instead of the registered dataset ``mbpp``.

    Raises
    ------
    InvalidParameterError
        An unknown split.
    DataFormatError
        A line that is not an MBPP problem (the message names the file and line).
    """
    if split is not None and split not in MBPP_SPLITS:
        raise InvalidParameterError(
            f"no MBPP split {split!r}; choose one of {', '.join(MBPP_SPLITS)} or None for all"
        )
    source = Path(path) if path is not None else fetch("mbpp")["mbpp.jsonl"]
    problems = [
        _mbpp_problem(row, f"{source}, line {n}")
        for n, row in enumerate(_json_lines(source.read_bytes(), source), start=1)
    ]
    problems.sort(key=lambda p: int(p.task_id.split("/")[1]))
    if split is None:
        return problems
    ids = MBPP_SPLITS[split]
    return [p for p in problems if int(p.task_id.split("/")[1]) in ids]


def load_humaneval(*, path: str | Path | None = None) -> list[CodeProblem]:
    """HumanEval's 164 problems, in file order.

    Parameters
    ----------
    path
        A ``HumanEval.jsonl`` or ``.jsonl.gz`` file instead of the dataset ``humaneval``.

    Raises
    ------
    DataFormatError
        A line that is not a HumanEval problem.
    """
    source = Path(path) if path is not None else fetch("humaneval")["HumanEval.jsonl.gz"]
    data = source.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [
        _humaneval_problem(row, f"{source}, line {n}")
        for n, row in enumerate(_json_lines(data, source), start=1)
    ]


def load_code_alpaca(*, path: str | Path | None = None) -> list[Instruction]:
    """Code Alpaca 2k's 2,017 instructions (non-commercial licence: CC BY-NC 4.0).

    Raises
    ------
    DataFormatError
        A file that is not a JSON list of instruction, input, output objects.
    """
    source = Path(path) if path is not None else fetch("code-alpaca-2k")["code_alpaca_2k.json"]
    return _instructions(source)


def load_turkish_instructions(*, paths: Iterable[str | Path] | None = None) -> list[Instruction]:
    """The 574 Turkish instructions: finance, then machine learning, then crypto and money.

    Raises
    ------
    DataFormatError
        A file that is not a JSON list of instruction, input, output objects.
    """
    if paths is None:
        files = fetch("turkish-instructions")
        paths = [files[name] for name in TURKISH_FILES]
    return [example for path in paths for example in _instructions(Path(path))]


def problem_prompt(problem: CodeProblem) -> str:
    """What a model is asked for ``problem``.

    MBPP: the statement and the first test as an example, in the wording of the MBPP paper
    (which showed all three tests); the test names the function to write. HumanEval: the
    prompt itself, the code to complete.

    >>> p = CodeProblem("MBPP/2", "Write a function to add two numbers.",
    ...                 ("assert add(1, 2) == 3",), "", "add", "def add(a, b): return a + b")
    >>> print(problem_prompt(p))
    You are an expert Python programmer, and here is your task: Write a function to add two numbers. Your code should pass this test:
    <BLANKLINE>
    assert add(1, 2) == 3
    """  # noqa: E501
    if problem.task_id.startswith("HumanEval/"):
        return problem.prompt
    return (
        "You are an expert Python programmer, and here is your task: "
        f"{problem.prompt} Your code should pass this test:\n\n{problem.tests[0]}"
    )


def as_instruction(problem: CodeProblem) -> Instruction:
    """``problem`` as a training example: its :func:`problem_prompt` -> its reference."""
    return Instruction(problem_prompt(problem), "", problem.reference)


def python_expert_split() -> PythonExpertSplit:
    """The Python expert's training, validation and held-out data (see the module docstring).

    Raises
    ------
    DatasetUnavailableError
        A file that no mirror, cache or download provides.
    """
    held_out = [*load_mbpp("test"), *load_humaneval()]
    statements = {_key(_statement(p)): p.task_id for p in held_out}
    references = {_code_key(p.reference): p.task_id for p in held_out}
    dropped: list[str] = []

    def kept(name: str, texts: Sequence[str], answer: str) -> bool:
        hit = next((statements[k] for k in map(_key, texts) if k in statements), None)
        hit = hit or references.get(_code_key(answer))
        if hit:
            dropped.append(f"{name} repeats {hit}")
        elif not answer.strip():
            dropped.append(f"{name} has no answer")
        return not hit and bool(answer.strip())

    train = [p for p in load_mbpp("train") if kept(p.task_id, [p.prompt], p.reference)]
    instructions = [
        e
        for n, e in enumerate(load_code_alpaca())
        if kept(f"Code Alpaca #{n}", [e.instruction, f"{e.instruction} {e.input}"], e.output)
    ]
    return PythonExpertSplit(
        tuple(train),
        tuple(instructions),
        tuple(load_mbpp("validation")),
        tuple(held_out),
        tuple(dropped),
    )


def split_held_out(
    examples: Sequence[Instruction], fraction: float = 0.1, *, seed: int = 0
) -> tuple[list[Instruction], list[Instruction]]:
    """``(train, held_out)``: a seeded, stable ``fraction`` of ``examples`` held out.

    An example's side depends on a SHA-256 of the seed and its instruction (lower-cased,
    letters and digits only), not on the order or the other examples, so it keeps its side
    when the data grows. Examples that share an instruction or an output always land on the
    same side (the side of the group's first instruction in sorted order), so no text is on
    both. Both lists keep the input order.

    Parameters
    ----------
    examples
        The examples to split.
    fraction
        The expected share held out, in [0, 1].
    seed
        Another seed gives another, equally stable split.

    Raises
    ------
    InvalidParameterError
        A fraction outside [0, 1].

    Examples
    --------
    >>> data = [Instruction(f"soru {i}", "", f"cevap {i}") for i in range(1000)]
    >>> train, held_out = split_held_out(data, 0.2)
    >>> len(train) + len(held_out), 150 < len(held_out) < 250
    (1000, True)
    >>> split_held_out(data[::-1], 0.2)[1] == held_out[::-1]
    True
    """
    if not 0.0 <= fraction <= 1.0:
        raise InvalidParameterError(f"fraction must be in [0, 1], got {fraction!r}")
    groups = _groups(examples)
    held: list[Instruction] = []
    kept: list[Instruction] = []
    for example, group in zip(examples, groups, strict=True):
        digest = hashlib.sha256(f"{seed}\0{group}".encode()).digest()
        side = held if int.from_bytes(digest[:8], "big") < fraction * 2**64 else kept
        side.append(example)
    return kept, held


def _groups(examples: Sequence[Instruction]) -> list[str]:
    """Each example's group: the smallest instruction key connected to it by a shared
    instruction or output key (union-find over the keys)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for e in examples:
        a, b = root("i:" + _key(e.instruction)), root("o:" + _key(e.output))
        if a != b:
            parent[max(a, b)] = min(a, b)  # "i:" sorts before "o:": roots stay instructions
    return [root("i:" + _key(e.instruction)) for e in examples]


def parse_quietly(source: str) -> ast.Module:
    """``ast.parse`` without the warnings of odd but valid code (an invalid escape such as
    ``"\\d"`` in a docstring warns, and these sources are data, not ours to fix).

    Raises
    ------
    SyntaxError
        ``source`` is not Python.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(source)


def _key(text: str) -> str:
    """``text`` lower-cased, as its runs of letters and digits joined by single spaces."""
    return " ".join(re.findall(r"\w+", text.lower()))


def _code_key(code: str) -> str:
    """``code`` lower-cased, as its words and symbols joined by single spaces."""
    return " ".join(re.findall(r"\w+|[^\w\s]", code.lower()))


def _statement(problem: CodeProblem) -> str:
    if not problem.task_id.startswith("HumanEval/"):
        return problem.prompt
    for node in ast.walk(parse_quietly(problem.prompt)):
        if isinstance(node, ast.FunctionDef) and node.name == problem.entry_point:
            return ast.get_docstring(node) or problem.prompt
    return problem.prompt


def _unix(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _json_lines(data: bytes, source: Path) -> Iterable[Any]:
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(f"{source}, line {n}: not JSON ({e})") from None


def _fields(row: Any, where: str, names: Sequence[str]) -> dict[str, Any]:
    if not isinstance(row, dict) or any(name not in row for name in names):
        raise DataFormatError(f"{where}: expected an object with {', '.join(names)}")
    return row


def _mbpp_problem(row: Any, where: str) -> CodeProblem:
    row = _fields(row, where, ("task_id", "text", "code", "test_list", "test_setup_code"))
    code, tests = _unix(row["code"]), tuple(_unix(t) for t in row["test_list"])
    entry = _called_function(code, tests)
    if entry is None:
        raise DataFormatError(f"{where}: no function of the code is called by the tests")
    return CodeProblem(
        f"MBPP/{int(row['task_id'])}",
        _unix(row["text"]).strip(),
        tests,
        _unix(row["test_setup_code"]),
        entry,
        code,
    )


def _called_function(code: str, tests: Sequence[str]) -> str | None:
    """The first function ``code`` defines at its top level that the tests call."""
    try:
        defined = {
            node.name
            for node in parse_quietly(code).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
    except SyntaxError:
        return None
    calls = (m[1] for m in _CALL.finditer("\n".join(tests)))
    return next((name for name in calls if name in defined), None)


def _humaneval_problem(row: Any, where: str) -> CodeProblem:
    names = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
    row = _fields(row, where, names)
    prompt = _unix(row["prompt"])
    return CodeProblem(
        str(row["task_id"]),
        prompt,
        (_unix(row["test"]), f"check({row['entry_point']})"),
        "",
        str(row["entry_point"]),
        prompt + _unix(row["canonical_solution"]),
    )


def load_instructions(path: str | Path) -> list[Instruction]:
    """Instruction examples from a file of your own: a JSON list, or JSON lines, of objects
    with ``instruction``, ``input`` and ``output`` (the Alpaca format).

    Raises
    ------
    DataFormatError
        A file that is neither, or an object without those fields (the message names it).
    """
    source = Path(path)
    data = source.read_bytes()
    if data.lstrip().startswith(b"["):
        return _instructions(source)
    names = ("instruction", "input", "output")
    return [
        Instruction(*(_unix(str(_fields(row, f"{source}, line {n}", names)[k])) for k in names))
        for n, row in enumerate(_json_lines(data, source), start=1)
    ]


def _instructions(path: Path) -> list[Instruction]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{path}: not JSON ({e})") from None
    if not isinstance(rows, list):
        raise DataFormatError(f"{path}: expected a JSON list of instruction examples")
    names = ("instruction", "input", "output")
    return [
        Instruction(*(_unix(str(_fields(row, f"{path}, item {n}", names)[k])) for k in names))
        for n, row in enumerate(rows)
    ]
