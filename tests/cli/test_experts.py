"""``azuraforge assist train-expert | experts | eval-expert`` on a user's own data and base model
(the tiny Llama GGUF), and their one-line errors."""

import json

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from azuraforge.cli.common import console
from azuraforge.cli.main import app
from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.assist.tiny_llama import build_tiny_llama
from tests.platform.fixtures import admin_headers, user_headers
from tests.platform.servers import served_in_thread

runner = CliRunner()
NAMES = ["Ada", "Alan", "Grace", "Linus", "Guido", "Barbara", "Edsger", "Donald", "Ken", "Dennis"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "greetings.jsonl"
    rows = [{"instruction": f"Greet {n}.", "input": "", "output": f"Merhaba {n}!"} for n in NAMES]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def base(tmp_path, data):
    return build_tiny_llama(tmp_path / "tiny", [data.read_text(), "def add(a, b): return a + b"])


@pytest.mark.slow
def test_train_list_and_evaluate_an_expert_of_ones_own(
    real_data, home, data, base, tmp_path, monkeypatch
):
    """Offline, a trained expert is a folder version and a version of this machine's store's
    registry, which a server started on that store serves; --no-register keeps the folder's."""
    machine = f"sqlite:///{tmp_path / 'machine.db'}"
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", machine)
    train = [
        *("assist", "train-expert", "greeter", "--data", str(data), "--base", str(base)),
        *("--steps", "4", "--rank", "2", "--threads", "1"),
    ]
    trained = runner.invoke(app, train)
    assert trained.exit_code == 0, trained.output
    assert "training greeter on" in trained.output and "step 4/4" in trained.output
    assert "saved greeter@v1 in" in trained.output
    assert "registered expert-greeter/1 in this machine's store" in trained.output
    assert (home / "assist" / "experts" / "greeter" / "v1" / "adapter.gguf").is_file()
    again = runner.invoke(app, [*train, "--steps", "1", "--no-register"])
    assert again.exit_code == 0, again.output
    assert "saved greeter@v2 in" in again.output and "registered" not in again.output

    monkeypatch.setattr(console, "width", 200)  # each table's rows on one line each
    listed = runner.invoke(app, ["assist", "experts"])
    assert listed.exit_code == 0, listed.output
    in_store, in_folder = listed.output.split("greeter@v1")[0], listed.output
    assert "expert-greeter/1" in in_store and "expert-greeter/2" not in in_store
    assert "greeter@v1" in in_folder and "greeter@v2" in in_folder
    store = Store(machine)
    version = store.get_version("expert-greeter", 1)
    assert version.pipeline == "assist-adapter" and "held_out_loss" in version.metrics
    served = TestClient(
        create_app(
            Settings(home=home, database_url=machine, allowed_hosts=["testserver"]), store=store
        )
    )
    with served as client:
        answer = client.get("/api/v1/models/expert-greeter", headers=admin_headers(store))
    store.close()
    assert answer.status_code == 200 and answer.json()["latest_version"] == 1

    evaluated = runner.invoke(
        app,
        [
            *("assist", "eval-expert", "greeter", "--problems", "humaneval"),
            *("--limit", "2", "--max-tokens", "4", "--version", "1"),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "pass@1" in evaluated.output and "greeter@v1" in evaluated.output
    assert "base: 2/2 answered" in evaluated.output
    assert "greeter@v1: 2/2 answered" in evaluated.output
    record = json.loads((home / "assist/experts/greeter/v1/version.json").read_text())
    figures = record["metrics"]["pass_at_1_humaneval_first_2"]
    assert figures["problems"] == 2 and 0.0 <= figures["adapter"] <= 1.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train-expert", "sql"], "expert 'sql' has no built-in data"),
        (["train-expert", "greeter", "--data", "missing.jsonl"], "no file 'missing.jsonl'"),
        (["train-expert", "../up", "--data", "{data}"], "expert names are"),
        (["train-expert", "greeter", "--data", "{data}", "--steps", "0"], "steps must be >= 1"),
        (["eval-expert", "python"], "expert 'python' has no adapter in"),
        (["eval-expert", "python", "--problems", "leetcode"], "--problems must be mbpp"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(home, data, arguments, message):
    arguments = [a.replace("{data}", str(data)) for a in arguments]
    result = runner.invoke(app, ["assist", *arguments])
    assert result.exit_code in (1, 2), result.output
    assert message in result.output and "Traceback" not in result.output


def test_no_experts_yet_says_how_to_train_one(home):
    result = runner.invoke(app, ["assist", "experts"])
    assert result.exit_code == 0 and "train one with: azuraforge assist train-expert" in (
        result.output
    )


def test_a_data_file_that_is_not_instructions_is_refused_with_its_line(home, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "a", "input": "", "output": "b"}\n{"question": "c"}\n')
    result = runner.invoke(app, ["assist", "train-expert", "greeter", "--data", str(path)])
    assert result.exit_code == 1, result.output
    assert "bad.jsonl, line 2: expected an object with instruction, input, output" in (
        result.output
    )


@pytest.mark.slow
def test_a_trained_expert_registered_on_the_server_is_a_version_of_its_model(
    real_data, home, data, base, settings, store, monkeypatch, tmp_path
):
    app_ = create_app(settings.model_copy(update={"allowed_hosts": ["127.0.0.1"]}), store=store)
    with served_in_thread(uvicorn.Config(app_, log_level="warning")) as address:
        token = user_headers(store, "ed", "editor")["Authorization"].removeprefix("Bearer ")
        monkeypatch.setenv("AZURAFORGE_TOKEN", token)
        trained = runner.invoke(app, [  # logged in, it registers without --register
            *("assist", "train-expert", "greeter", "--data", str(data), "--base", str(base)),
            *("--steps", "2", "--rank", "2", "--threads", "1"),
            *("--api-url", f"http://{address}"),
        ])  # fmt: skip
        assert trained.exit_code == 0, trained.output
        assert "registered expert-greeter/1 in the server;" in trained.output
        assert "azuraforge models alias expert-greeter champion 1" in trained.output
        monkeypatch.setattr(console, "width", 200)  # each table's rows on one line each
        listed = runner.invoke(app, ["assist", "experts", "--api-url", f"http://{address}"])
        assert listed.exit_code == 0, listed.output
        on_server, in_folder = listed.output.split("greeter@v1")[0], listed.output
        assert "expert-greeter/1" in on_server and "greeter@v1" in in_folder  # both sides
        # The reverse: another terminal, whose folder lacks the expert, evaluates the server's.
        elsewhere, shown = tmp_path / "elsewhere", []
        for _ in range(2):
            evaluated = runner.invoke(app, [
                *("assist", "eval-expert", "greeter", "--experts", str(elsewhere)),
                *("--problems", "humaneval", "--limit", "1", "--max-tokens", "4"),
                *("--api-url", f"http://{address}"),
            ])  # fmt: skip
            assert evaluated.exit_code == 0, evaluated.output
            assert "greeter@v1: 1/1 answered" in evaluated.output
            shown.append(evaluated.output)
        assert f"fetched expert-greeter/1 from http://{address} as greeter@v1" in shown[0]
        assert "fetched" not in shown[1]  # the copy kept the first time is used
    version = store.get_version("expert-greeter", 1, project="default")
    assert version.pipeline == "assist-adapter" and "held_out_loss" in version.metrics
    copy = json.loads((elsewhere / "greeter" / "v1" / "version.json").read_text())
    assert copy["origin"]["artifact_digest"] == version.artifact_digest
    assert copy["origin"]["model"] == "expert-greeter" and copy["origin"]["version"] == 1
    assert (elsewhere / "greeter" / "v1" / "adapter.gguf").read_bytes() == (
        home / "assist" / "experts" / "greeter" / "v1" / "adapter.gguf"
    ).read_bytes()
    assert not (elsewhere / "greeter" / "v2").exists()


def test_a_server_version_is_fetched_once_and_only_if_its_files_are_the_versions(
    home, settings, store, blobs, tmp_path
):
    from azuraforge import track
    from azuraforge.assist.adapters import AdapterRegistry
    from azuraforge.cli.experts import server_version
    from azuraforge.client import Client
    from azuraforge.errors import AzuraForgeError

    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF: the server's adapter")
    app_ = create_app(settings.model_copy(update={"allowed_hosts": ["127.0.0.1"]}), store=store)
    with served_in_thread(uvicorn.Config(app_, log_level="warning")) as address:
        url = f"http://{address}"
        token = user_headers(store, "ed", "editor")["Authorization"].removeprefix("Bearer ")
        with track.start_run(name="greeter-v1", experiment="train-expert", url=url,
                             token=token) as run:  # fmt: skip
            run.log_adapter(str(adapter), expert="greeter", base_model="smollm2-135m-instruct")
        registry = AdapterRegistry(tmp_path / "experts")
        with Client(url, token=token) as client:
            client.models.register("expert-greeter", run.id)
            client.models.register("expert-greeter", run.id)  # v2: the same files
            client.models.set_alias("expert-greeter", "champion", 1)
            kept = store.get_version("expert-greeter", 1, project="default")
            blobs.put_bytes(f"{kept.artifact_path}/adapter.gguf", b"GGUF: changed")
            with pytest.raises(AzuraForgeError, match="are not the version's"):
                server_version(registry, client, "greeter")
            assert registry.versions("greeter") == []  # nothing kept
            blobs.put_bytes(f"{kept.artifact_path}/adapter.gguf", adapter.read_bytes())
            copy = server_version(registry, client, "greeter")  # the champion's
            assert (copy.version, copy.origin["version"], copy.base) == (
                1, 1, "smollm2-135m-instruct"
            )  # fmt: skip
            assert (copy.folder / "adapter.gguf").read_bytes() == adapter.read_bytes()
            assert server_version(registry, client, "greeter", 2) == copy  # same files: kept
    assert [v.version for v in registry.versions("greeter")] == [1]
