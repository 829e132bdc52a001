"""The guardian: an answer's code run behind the boundary, its finding handed on; an answer
without code is not checked; without bubblewrap no code runs and the finding says why."""

import logging

import pytest

from azuraforge.assist.boundary import Bubblewrap
from azuraforge.platform.services.guardian import REFUSED, Check, Guardian


def found(guardian: Guardian, answer: str) -> Check | None:
    got: list[Check] = []
    future = guardian.submit(answer, got.append)
    if future is None:
        return None
    future.result(timeout=60)
    return got[0]


def test_an_answers_code_is_run_behind_the_boundary():
    guardian = Guardian()
    assert found(guardian, "Here:\n```python\nprint(sum(range(4)))\n```") == Check(
        "passed", "ran clean"
    )
    broken = found(guardian, "```python\ndef f(:\n    pass\n```")
    assert broken is not None and broken.status == "error" and "SyntaxError" in broken.message
    assert found(guardian, "") is None
    assert found(guardian, "Use a for loop and add each number.") is None  # prose: no program
    guardian.close()


@pytest.mark.parametrize(
    ("code", "named"),
    [
        ("def area(r):\n    return pi * r ** 2\n", "'pi' (line 2)"),  # never called
        ("import math\nif __name__ == '__main__':\n    print(maths.pi)\n", "'maths' (line 3)"),
        ("class Box:\n    def grow(self):\n        return sizes[0]\n", "'sizes' (line 3)"),
    ],
)
def test_code_that_uses_a_name_it_never_defines_did_not_run_clean(code: str, named: str):
    guardian = Guardian()
    check = found(guardian, f"```python\n{code}```")
    guardian.close()
    assert check is not None and check.status == "error", check
    assert check.message == f"the code uses a name it never defines: {named}"


def test_without_bubblewrap_no_code_runs_and_the_check_says_why(
    caplog: pytest.LogCaptureFixture, tmp_path
):
    guardian = Guardian(boundary=Bubblewrap("no-such-bwrap"))
    marker = tmp_path / "ran"
    code = f"```python\nopen({str(marker)!r}, 'w').write('x')\n```"
    with caplog.at_level(logging.WARNING, "azuraforge.platform.services.guardian"):
        checks = [found(guardian, code) for _ in range(2)]
    assert all(c is not None and c.status == REFUSED for c in checks)
    assert "apt-get install bubblewrap" in checks[0].message  # type: ignore[union-attr]
    assert not marker.exists()  # never run unbounded
    assert caplog.text.count("no code was run") == 1  # said once
    guardian.close()
