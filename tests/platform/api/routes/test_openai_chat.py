"""OpenAI's API as OpenAI's own client (the ``openai`` package) meets it, on a real server
(uvicorn in a thread, one for this module, SQLite, two echo backends): a model retrieved; each
refusal raised as the client's own class (``BadRequestError``, ``AuthenticationError``,
``PermissionDeniedError``, ``NotFoundError``) with OpenAI's body (``message``, ``type``,
``param``, ``code``), the limits worded in characters and tokens; ``/api/v1``'s errors keep
their own body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from azuraforge.platform.api.schemas.chat import MAX_MESSAGE
from azuraforge.platform.api.schemas.openai_chat import MAX_MESSAGES, MAX_PARTS, MAX_TOKENS
from azuraforge.platform.settings import AssistBackend
from azuraforge.platform.store import Store
from tests.platform.fixtures import served_chat, user_headers

BACKENDS = [AssistBackend(name="quick", kind="echo"), AssistBackend(name="other", kind="echo")]
SAID = [{"role": "user", "content": "merhaba"}]
PARTS = [{"type": "text", "text": text} for text in ("y", "y", "x" * MAX_MESSAGE)]
"""Text parts each under the limit, over it together."""


class Server:
    def __init__(self, url: str, store: Store) -> None:
        self.url, self.store = url, store
        self.viewer = user_headers(store, "ada", "viewer")  # any role may chat
        self.editor = user_headers(store, "bob", "editor")

    def client(self, headers: dict[str, str] | None = None) -> openai.OpenAI:
        token = (headers or self.viewer)["Authorization"].removeprefix("Bearer ")
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=token, max_retries=0)


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("openai-api")
    with served_chat(sqlite_template, home, BACKENDS) as (url, store):
        yield Server(url, store)


def test_a_model_is_retrieved_and_an_unknown_one_is_openais_404(server: Server):
    client = server.client()
    found = client.models.retrieve("quick")
    assert (found.id, found.object, found.owned_by) == ("quick", "model", "azuraforge")
    assert client.models.retrieve("auto").id == "auto"
    with pytest.raises(openai.NotFoundError) as refused:
        client.models.retrieve("gpt-9")
    error = refused.value
    assert (error.type, error.param, error.code) == ("not_found_error", "model", "model_not_found")
    assert error.body["message"].startswith("no model 'gpt-9'; models: auto, quick, other")


def _refused(call: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as refused:
        call()
    return refused.value


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"messages": []}, "messages", "List should have at least 1 item"),
        ({"messages": SAID * (MAX_MESSAGES + 1)}, "messages", f"at most {MAX_MESSAGES} items"),
        ({"temperature": 3}, "temperature", "less than or equal to 2; got 3"),
        ({"max_tokens": MAX_TOKENS + 1},
         "max_tokens", f"at most {MAX_TOKENS} tokens, got {MAX_TOKENS + 1}"),
        ({"max_completion_tokens": 0}, "max_completion_tokens", "at least 1 tokens, got 0"),
        ({"messages": [{"role": "user", "content": "x" * (MAX_MESSAGE + 1)}]},
         "messages[0].content",
         f"a message holds at most {MAX_MESSAGE} characters; this one has {MAX_MESSAGE + 1}"),
        ({"messages": [*SAID, {"role": "user", "content": PARTS}]},
         "messages[1].content", f"at most {MAX_MESSAGE} characters; this one has 20002"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
         "messages[0].content", "a text or a list of text parts ([{'type': 'text', 'text'"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "; got 5"),
        ({"messages": [{"role": "user", "content": PARTS[:1] * (MAX_PARTS + 1)}]},
         "messages[0].content", f"at most {MAX_PARTS} parts; this one has {MAX_PARTS + 1}"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role",
         "Input should be 'system', 'developer', 'user' or 'assistant'"),
        ({"messages": [*SAID, {"role": "user", "content": " \n\t "}]}, "messages",
         "the last user message holds no text (only spaces or nothing)"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}]},
         "messages", "the last user message holds no text (only spaces or nothing)"),
        ({"messages": [{"role": "system", "content": "Be brief."}]}, "messages",
         "no user message to answer"),
    ],
)  # fmt: skip
def test_a_request_openai_would_refuse_is_its_400_naming_the_field(server, body, param, fragment):
    request = {"model": "quick", "messages": SAID, **body}
    refused = _refused(lambda: server.client().chat.completions.create(**request))
    assert isinstance(refused, openai.BadRequestError), refused
    assert refused.status_code == 400
    assert refused.type == "invalid_request_error" and refused.param == param
    assert refused.code == "invalid_value" and fragment in refused.message, refused.message
    assert f"'{param}'" in refused.message


def test_a_missing_field_is_named_as_openai_names_it(server: Server):
    answer = httpx.post(f"{server.url}/v1/chat/completions", json={"model": "quick"},
                        headers=server.viewer)  # fmt: skip
    assert answer.status_code == 400
    assert answer.json() == {"error": {
        "message": "Missing required parameter: 'messages'.", "type": "invalid_request_error",
        "param": "messages", "code": "missing_required_parameter",
    }}  # fmt: skip


def test_a_body_that_is_not_json_is_a_400_naming_no_field(server: Server):
    answer = httpx.post(f"{server.url}/v1/chat/completions", content=b"{not json",
                        headers={**server.viewer, "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "invalid_json",
    )
    assert error["message"].startswith("the body is not valid JSON: ")


def test_a_body_over_the_servers_limit_is_a_413_in_openais_body(server: Server):
    said = [{"role": "user", "content": "x" * 15_000}] * 70  # each within the limits: 1 MB
    refused = _refused(
        lambda: server.client().chat.completions.create(model="quick", messages=said)
    )
    assert refused.status_code == 413
    assert (refused.type, refused.code) == ("invalid_request_error", "too_large")
    assert "request body over 1,000,000 bytes" in refused.body["message"]


def test_no_credential_a_bad_one_and_a_runs_own_are_openais_401_and_403(server: Server):
    for key in ("af_not_a_token", "no-key"):
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
        refused = _refused(lambda c=client: c.models.list())
        assert isinstance(refused, openai.AuthenticationError), refused
        assert (refused.type, refused.code) == ("authentication_error", "invalid_api_key")
        assert refused.body["message"].startswith("no valid credential")
    made = httpx.post(f"{server.url}/api/v1/external-runs", json={}, headers=server.editor)
    run = {"Authorization": f"Bearer {made.json()['credential']}"}
    refused = _refused(
        lambda: server.client(run).chat.completions.create(model="quick", messages=SAID)
    )
    assert isinstance(refused, openai.PermissionDeniedError), refused
    assert refused.type == "permission_error" and refused.param is None


def test_an_unknown_model_and_path_are_openais_404(server: Server):
    client = server.client()
    refused = _refused(lambda: client.chat.completions.create(model="gpt-9", messages=SAID))
    assert isinstance(refused, openai.NotFoundError), refused
    assert (refused.type, refused.param, refused.code) == (
        "not_found_error",
        "model",
        "model_not_found",
    )
    refused = _refused(lambda: client.get("/embeddings", cast_to=object))
    assert isinstance(refused, openai.NotFoundError), refused
    assert refused.type == "not_found_error"


def test_api_v1_errors_keep_their_own_body(server: Server):
    answer = httpx.post(f"{server.url}/api/v1/chat", json={"message": ""}, headers=server.viewer)
    assert answer.status_code == 422
    assert set(answer.json()["error"]) == {"code", "message", "details"}
    assert answer.json()["error"]["code"] == "INVALID_REQUEST"
    unknown = httpx.get(f"{server.url}/api/v1/no-such-thing", headers=server.viewer)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({"Origin": "http://evil.example"}, 403, "permission_error"),
        ({"Host": "rebound.example"}, 400, "invalid_request_error"),
    ],
)
def test_another_sites_origin_and_an_unknown_host_are_refused_in_openais_body(
    server: Server, headers: dict[str, str], status: int, kind: str
):
    """The refusals made before any route (origins.py) speak OpenAI's shape on ``/v1`` too,
    and keep AzuraForge's on ``/api/v1``."""
    request = {"model": "quick", "messages": SAID}
    refused = httpx.post(f"{server.url}/v1/chat/completions", json=request,
                         headers={**server.viewer, **headers})  # fmt: skip
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    assert error["type"] == kind and error["message"] and "param" in error, error
    own = httpx.post(f"{server.url}/api/v1/chat", json={"message": "hi"},
                     headers={**server.viewer, **headers})  # fmt: skip
    assert own.status_code == status and set(own.json()["error"]) == {"code", "message"}
