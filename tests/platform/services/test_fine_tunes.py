"""A fine-tune's base model: the declared llama backend's, or, with none declared, the chat's
default backend's (the packaged SmolLM2-135M), as the chat answers with it."""

import pytest

from azuraforge.errors import ReferenceNotFoundError
from azuraforge.platform.services.assist_backends import DEFAULT_BACKEND
from azuraforge.platform.services.fine_tune_judging import code_runner
from azuraforge.platform.services.fine_tunes import base_backend
from azuraforge.platform.settings import AssistBackend, Settings


def test_with_no_backend_declared_the_base_is_the_chats_default(settings: Settings):
    assert settings.assist_backends == []
    assert base_backend(settings) == DEFAULT_BACKEND
    assert base_backend(settings).model == "smollm2-135m-instruct"


def test_declared_backends_replace_the_default(settings: Settings):
    echo = settings.model_copy(update={"assist_backends": [AssistBackend(name="e", kind="echo")]})
    with pytest.raises(ReferenceNotFoundError, match="needs a llama backend declared"):
        base_backend(echo)
    with pytest.raises(ReferenceNotFoundError):
        base_backend(settings, "big")  # a name that is not the default's


def test_an_examples_tests_run_behind_the_guardians_boundary(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the machine file")
    run = code_runner()
    answer = f"def leak():\n    return open({str(secret)!r}).read()\n"
    assert not run(answer, "assert leak() == 'the machine file'", "")
    assert run(answer, "assert leak.__name__ == 'leak'", "")  # the same code runs there
