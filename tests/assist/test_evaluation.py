"""pass@1 on the real MBPP and HumanEval problems: canonical answers pass, wrong ones do not."""

import pytest

from azuraforge.assist.corpora import CodeProblem, load_humaneval, load_mbpp
from azuraforge.assist.evaluation import (
    PassAtOneReport,
    ProblemResult,
    check,
    extract_code,
    pass_at_1,
    solution_program,
)
from azuraforge.assist.sandbox import Limits
from azuraforge.errors import InvalidParameterError

QUICK = Limits(cpu_seconds=1, wall_seconds=2.0, memory_mb=256)


@pytest.fixture(scope="module")
def mbpp_test(real_data):
    return load_mbpp("test")


@pytest.fixture(scope="module")
def humaneval(real_data):
    return load_humaneval()


def test_canonical_solutions_pass_every_test_on_a_sample(mbpp_test, humaneval):
    sample = mbpp_test[::25] + humaneval[::8]  # 20 + 21 problems, both kinds of setup
    report = pass_at_1(sample, lambda p: p.reference, workers=2)
    assert report.failures() == []
    assert report.pass_at_1 == 1.0 and report.counts["passed"] == len(sample) == 41
    assert [r.task_id for r in report.results] == [p.task_id for p in sample]


def test_a_humaneval_answer_may_be_a_body_or_a_whole_function_in_a_fence(humaneval):
    problem = humaneval[0]
    body = problem.reference[len(problem.prompt) :]
    assert check(problem, body).passed
    whole = f"Sure:\n```python\nfrom typing import List\n\n{problem.reference}```\nDone."
    result = check(problem, whole)
    assert result.passed and result.program.startswith(problem.prompt + "\n\n")


def test_mbpp_setup_code_builds_what_the_tests_use(real_data):
    tree = next(p for p in load_mbpp() if p.task_id == "MBPP/927")
    assert tree.setup and check(tree, tree.reference).passed


def test_wrong_answers_fail(mbpp_test, humaneval):
    problem = mbpp_test[0]  # MBPP/11: remove the first and last occurrence of a character
    wrong = check(problem, "```python\ndef remove_Occ(s, ch):\n    return s\n```")
    assert wrong.status == "failed" and wrong.message.startswith("test 1 of 3 (assert remove_Occ(")
    missing = check(problem, "I cannot help with that.")
    assert missing.status == "error" and "SyntaxError" in missing.message
    nothing = check(humaneval[0], "")  # the prompt alone: a function that returns None
    assert nothing.status == "failed"


def test_the_report_counts_every_status(mbpp_test):
    problem = mbpp_test[0]
    answers = {
        "passed": problem.reference,
        "failed": "def remove_Occ(s, ch):\n    return s",
        "timeout": "def remove_Occ(s, ch):\n    while True:\n        pass",
        "memory": "def remove_Occ(s, ch):\n    return ' ' * (1 << 30)",
        "error": "def remove_Occ(s, ch) return s",
    }
    problems = [
        CodeProblem(f"MBPP/{status}", problem.prompt, problem.tests, "", "remove_Occ", "")
        for status in answers
    ]
    asked = []

    def complete(p):
        asked.append(p.task_id)
        return answers[p.task_id.split("/")[1]]

    report = pass_at_1(problems, complete, limits=QUICK, workers=2)
    assert asked == [p.task_id for p in problems]
    assert [r.status for r in report.results] == list(answers)
    assert report.counts == dict.fromkeys(answers, 1)
    assert report.pass_at_1 == 0.2 and len(report.failures()) == 4
    assert report.summary().startswith(
        "pass@1 20.0 % (1/5): passed 1, failed 1, timeout 1, memory 1, error 1 in "
    )


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("def f():\n    return 1\n", "def f():\n    return 1\n"),
        ("Here you go:\n```python\nx = 1\n```\nand more", "x = 1\n"),
        ("```Python3\nx = 1\n```", "x = 1\n"),
        ("```\nx = 1\n```", "x = 1\n"),
        ("```bash\npip install x\n```\n```py\ny = 2\n```", "y = 2\n"),
        ("```python\ndef f():\n    return 1", "def f():\n    return 1"),  # cut off
        ("1. Code:\n   ```python\n   if x:\n       y = 1\n   ```", "if x:\n    y = 1\n"),
    ],
)
def test_extract_code(answer, code):
    assert extract_code(answer) == code


def test_extract_code_prefers_the_block_that_defines_the_entry_point():
    answer = "```python\nimport math\n```\ntext\n```python\ndef area(r):\n    return r\n```"
    assert extract_code(answer) == "import math\n"
    assert extract_code(answer, "area") == "def area(r):\n    return r\n"


def test_mbpp_answers_are_whole_programs(mbpp_test):
    assert solution_program(mbpp_test[0], "```python\nx = 1\n```") == "x = 1\n"


def test_the_report_of_nothing_and_bad_workers():
    assert pass_at_1([], lambda p: "").pass_at_1 == 0.0
    with pytest.raises(InvalidParameterError, match="workers must be at least 1"):
        pass_at_1([], lambda p: "", workers=0)
    report = PassAtOneReport((ProblemResult("MBPP/11", "timeout", 1.0, "slow", "x"),), 1.0)
    assert report.pass_at_1 == 0.0 and report.failures() == list(report.results)


def test_a_models_code_runs_behind_the_guardians_boundary(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the machine file")
    problem = CodeProblem("MBPP/leak", "Read it.", ("assert leak() == 'the machine file'",),
                          "", "leak", "")  # fmt: skip
    answer = f"def leak():\n    return open({str(secret)!r}).read()\n"
    behind = check(problem, answer)
    assert behind.status == "failed" and "raised FileNotFoundError" in behind.message
    assert check(problem, answer, boundary=None).passed  # the sandbox's limits alone


def test_where_the_boundary_cannot_run_no_answer_is_asked_for():
    from azuraforge.assist.boundary import Bubblewrap
    from azuraforge.errors import BoundaryUnavailableError

    asked = []
    problem = CodeProblem("MBPP/1", "Add.", ("assert add(1, 2) == 3",), "", "add", "")
    with pytest.raises(BoundaryUnavailableError, match="apt-get install bubblewrap"):
        pass_at_1([problem], asked.append, boundary=Bubblewrap("no-such-bwrap"))
    assert asked == []
