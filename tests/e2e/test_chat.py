"""The chat page in a real browser: a message sent, its answer streaming in with who answered
and how fast, the conversation listed and kept across a reload, a verdict and a correction
typed in place stored on the turn, a second conversation apart from the first; an answer's
Markdown drawn (its code blocks, inline code, bold) with its markup kept as text; what is typed
while an answer streams kept for the next message. The serve's assistant is the echo backend
(tests/e2e/conftest.py)."""

from __future__ import annotations

import re

from playwright.sync_api import Route

from tests.e2e.conftest import Dashboard, shoot


def test_chat_streams_an_answer_keeps_the_conversation_and_takes_verdicts(
    dashboard: Dashboard, page
):
    page.goto(f"{dashboard.url}/#/chat")
    page.wait_for_selector("#chat-model option[value='echo']", state="attached")
    page.fill("#chat-message", "write a python function that adds two numbers")
    page.press("#chat-message", "Enter")
    answer = page.wait_for_selector(".chat-turn.assistant[data-turn]")
    assert answer.inner_text().startswith("echo: write a python function that adds two numbers")
    meta = page.inner_text(".chat-turn.assistant[data-turn] .chat-meta")
    # The router's confidence beside the intent, as the terminal shows it.
    assert re.match(r"code_python (0\.\d\d|1\.00) · python · echo · first token ", meta), meta
    assert "tokens/s" in meta
    page.wait_for_url("**/#/chat/*")
    conversation = int(page.url.rsplit("/", 1)[1])
    page.wait_for_selector(f"#conversations a.active[data-id='{conversation}']")

    page.click(".chat-turn.assistant[data-turn] button:text-is('Correct')")
    page.fill(".chat-correction-text", "def add(a, b):\n    return a + b")
    page.click("button:text-is('Save correction')")
    page.wait_for_selector(".chat-verdict:text-is('marked correction')")
    shoot(page, "chat")
    turn = dashboard.api.get(f"/chat/conversations/{conversation}").json()["turns"][0]
    assert (turn["verdict"], turn["correction"]) == (
        "correction",
        "def add(a, b):\n    return a + b",
    )

    page.reload()
    page.wait_for_selector(
        ".chat-turn.assistant[data-turn] .chat-correction:has-text('return a + b')"
    )
    page.click(".chat-turn.assistant[data-turn] button:text-is('Good')")
    page.wait_for_selector(".chat-verdict:text-is('marked good')")

    page.click("#chat-new")
    page.wait_for_url("**/#/chat")
    page.wait_for_selector("#chat-turns:empty", state="attached")
    page.fill("#chat-message", "merhaba")
    page.click("#chat-send")
    page.wait_for_selector(".chat-turn.assistant[data-turn]:has-text('echo: merhaba')")
    page.wait_for_selector("#conversations a >> nth=1")  # the list redrawn after the answer
    listed = page.eval_on_selector_all("#conversations a", "links => links.map(a => a.dataset.id)")
    assert len(listed) == 2 and listed[1] == str(conversation)  # the newest first


def test_the_memory_panel_shows_finds_and_forgets_what_the_assistant_remembers(
    dashboard: Dashboard, page
):
    page.goto(f"{dashboard.url}/#/chat")
    page.wait_for_selector("#chat-model option[value='echo']", state="attached")
    for message in ("my cat is called Pamuk", "I work on weather forecasts"):
        page.fill("#chat-message", message)
        page.press("#chat-message", "Enter")
        page.wait_for_selector(f".chat-turn.assistant[data-turn]:has-text('{message}')")
        page.wait_for_selector("#chat-send:enabled")  # the answer's stream closed
    held: list[Route] = []  # the backends read after the message is sent, as on a loaded machine
    page.route("**/api/v1/chat/models", lambda route: held.append(route))
    page.click("#chat-new")  # a new conversation: the last one's history holds no cat
    page.wait_for_selector("#chat-turns:empty", state="attached")
    page.fill("#chat-message", "do you remember what I told you about my cat?")
    page.press("#chat-message", "Enter")
    recalling = page.wait_for_selector(".chat-turn.assistant[data-turn]:has-text('Pamuk')")
    assert "1 memory recalled" in recalling.inner_text()
    assert len(held) == 1  # the new conversation's read of the backends, held till now
    held[0].continue_()
    page.unroute("**/api/v1/chat/models")
    page.wait_for_selector("#chat-model option[value='echo']", state="attached")

    page.click("#chat-memory summary")
    page.wait_for_selector("#chat-memories li[data-memory]:has-text('weather forecasts')")
    page.fill("#chat-memory-search", "my pet")
    first = "#chat-memories li[data-memory] >> nth=0"
    page.wait_for_selector(f"{first} >> text=my cat is called Pamuk")
    shoot(page, "chat-memory")
    page.click("#chat-memories li[data-memory]:has-text('Pamuk') button:text-is('Forget')")
    page.wait_for_selector("#chat-memories li[data-memory]:has-text('Pamuk')", state="detached")
    page.fill("#chat-memory-search", "")
    page.click("#chat-forget-all")
    page.click("dialog button:text-is('Forget all')")
    page.wait_for_selector("#chat-memories li:text-is('Nothing remembered yet.')")
    assert dashboard.api.get("/chat/memories").json()["data"] == []


def test_what_is_typed_while_an_answer_streams_is_kept_for_the_next_message(
    dashboard: Dashboard, page
):
    page.goto(f"{dashboard.url}/#/chat")
    page.wait_for_selector("#chat-model option[value='echo']", state="attached")
    held: list[Route] = []  # the answer held, as a slow backend would
    page.route("**/api/v1/chat", lambda route: held.append(route))
    page.fill("#chat-message", "the first question")
    page.press("#chat-message", "Enter")
    page.wait_for_selector(".chat-turn.assistant.streaming")
    page.wait_for_function("() => document.querySelector('#chat-send').disabled")
    page.fill("#chat-message", "the next question")
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector(".chat-turn.assistant[data-turn]:has-text('echo: the first question')")
    page.wait_for_selector("#chat-send:enabled")
    assert page.input_value("#chat-message") == "the next question"
    page.unroute("**/api/v1/chat")


MARKDOWN = (
    "fix it:\n```python\ndef add(a, b):\n    return a + b\n```\nthen `add(1, 2)` is **3**, "
    'not <img src=x onerror="window.xss = 1"><script>window.xss = 2</script>'
)


def test_an_answers_markdown_is_drawn_and_its_markup_stays_text(dashboard: Dashboard, page):
    page.goto(f"{dashboard.url}/#/chat")
    page.wait_for_selector("#chat-model option[value='echo']", state="attached")
    page.fill("#chat-message", MARKDOWN)
    page.press("#chat-message", "Enter")
    answer = ".chat-turn.assistant[data-turn]"
    page.wait_for_selector(answer)
    page.wait_for_url("**/#/chat/*")
    for drawn in ("as it ended", "read again"):
        code = page.wait_for_selector(f"{answer} pre.md-code[data-language='python'] code")
        assert code.inner_text() == "def add(a, b):\n    return a + b", drawn
        assert page.inner_text(f"{answer} p code") == "add(1, 2)"
        assert page.inner_text(f"{answer} p strong") == "3"
        text = page.inner_text(f"{answer} .chat-text")
        assert '<img src=x onerror="window.xss = 1"><script>' in text and "```" not in text
        assert page.locator("#chat-turns img, #chat-turns script").count() == 0
        assert page.evaluate("window.xss") is None
        if drawn == "as it ended":
            shoot(page, "chat-markdown")
            page.reload()
