"""The assistant's review and nights pages in a real browser: the project's examples listed
with what was asked, the wrong output and why; a right output and tests typed in, then
approved; an approval without a right output refused in place; a rejection; the status and
expert filters; a fine-tune asked for with no llama backend declared refused in place, its
expert chosen (never assumed) and its share held out sent; a
nightly pass run now and its report's failure patterns; a viewer sees neither page in the
navigation and is told why at their address. The serve's assistant is the echo backend, with
no long-term memory, no nightly schedule and no guardian (tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from azuraforge.platform.services.access import NO_PASSWORD, login_link
from azuraforge.platform.store import DEFAULT_PROJECT, Store
from azuraforge.platform.store.examples import ProposedExample
from tests.e2e.conftest import DESKTOP, NARROW, Dashboard, dashboard_settings, shoot, signed_in
from tests.platform.servers import bearer, free_port, kill_group, start_serve

ADD = ProposedExample(
    expert="python", intent="code_python",
    prompt="write a python function that adds two numbers",
    wrong_output="def add(a, b):\n    return a - b",
    why="marked bad by ada",
)  # fmt: skip
REVERSE = ProposedExample(
    expert="python", intent="code_debug", prompt="why does reversed('abc') print an object?",
    wrong_output="print(reversed('abc'))  # <script>alert(1)</script>",
    why="the guardian ran its code: NameError: name 'revers' is not defined",
)  # fmt: skip
PROVERB = ProposedExample(
    expert="turkish", intent="turkish_culture", prompt="Bir atasözü söyler misin?",
    wrong_output="Damlaya damlaya göl olmaz.", why="corrected by ada",
    output="Damlaya damlaya göl olur.",
)  # fmt: skip
SORT = ProposedExample(
    expert="python", intent="code_python", prompt="sort a list of numbers in reverse",
    wrong_output="numbers.sort()", why="marked bad by bo", output="numbers.sort(reverse=True)",
)  # fmt: skip


@pytest.fixture(scope="module")
def dashboard(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    """A serve with one worker (it runs the nightly passes) on a fresh database, its assistant
    without memory, schedule or guardian (the passes run now are the only ones), a pass
    starting the fine-tune of an expert with one approved example waiting."""
    home = tmp_path_factory.mktemp("assist")
    database = home / "azuraforge.db"
    shutil.copy(sqlite_template, database)
    settings = dashboard_settings(home, database).model_copy(
        update={
            "assist_memory": False,
            "assist_nightly": False,
            "assist_guardian": False,
            "assist_fine_tune_after": 1,
        }
    )
    port = free_port()
    process = start_serve(settings, port, "--workers", "1")
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=f"{url}/api/v1", timeout=30, headers=bearer())
    served = Dashboard(url, home, client)
    try:
        yield served
    finally:
        served.api.close()
        kill_group(process)


@pytest.fixture(scope="module")
def examples(dashboard: Dashboard) -> dict[str, int]:
    """The seeded examples' ids by name: three candidates and an approved one."""
    store = Store(f"sqlite:///{dashboard.home / 'azuraforge.db'}")
    try:
        made = {name: store.propose_example(example, project=DEFAULT_PROJECT).id
                for name, example in (("add", ADD), ("reverse", REVERSE), ("proverb", PROVERB),
                                      ("sort", SORT))}  # fmt: skip
        store.review_example(made["sort"], reviewer="admin", status="approved",
                             project=DEFAULT_PROJECT)  # fmt: skip
    finally:
        store.close()
    return made


def card(example_id: int) -> str:
    return f"article.example[data-id='{example_id}']"


def test_review_lists_examples_and_takes_an_edit_an_approval_and_a_rejection(
    dashboard: Dashboard, examples: dict[str, int], page
):
    page.goto(f"{dashboard.url}/#/assist/examples")
    add, reverse = card(examples["add"]), card(examples["reverse"])
    page.wait_for_selector(add)
    assert page.locator("nav a[data-nav=assist-examples]").is_visible()
    assert page.locator("nav a[data-nav=assist-examples].active").count() == 1
    listed = page.eval_on_selector_all("article.example", "cards => cards.map(c => c.dataset.id)")
    assert {str(examples[n]) for n in ("add", "reverse", "proverb")} <= set(listed)  # candidates
    assert str(examples["sort"]) not in listed  # approved
    assert page.inner_text(f"{add} .example-prompt") == ADD.prompt
    assert page.inner_text(f"{add} .example-wrong") == ADD.wrong_output
    assert page.inner_text(f"{add} .example-why") == ADD.why
    assert page.inner_text(f"{add} .example-seen") == "seen 1×"
    assert page.inner_text(f"{add} .example-turn") == "no turn"
    # text shown as text: the wrong output's markup is not a tag
    assert "<script>alert(1)</script>" in page.inner_text(f"{reverse} .example-wrong")
    assert page.locator(f"{reverse} .example-wrong script").count() == 0
    assert page.input_value(f"{card(examples['proverb'])} .example-output") == PROVERB.output
    page.wait_for_selector("#fine-tune-waiting[data-counts]")
    waiting = json.loads(page.get_attribute("#fine-tune-waiting", "data-counts") or "{}")
    page.fill(f"{add} .example-output", "def add(a, b):\n    return a + b")
    page.fill(f"{add} .example-tests", "assert add(2, 3) == 5")
    shoot(page, "assist-review")

    page.click(f"{reverse} button[data-review=approved]")  # no right output: refused in place
    refusal = page.wait_for_selector(f"{reverse} .example-error .error-box")
    assert "Not approved" in refusal.inner_text()
    assert f"example {examples['reverse']} has no right output" in refusal.inner_text()

    page.click(f"{add} button[data-review=approved]")
    page.wait_for_selector(add, state="detached")  # approved: no longer a candidate
    page.wait_for_selector(f"#fine-tune-waiting:text-is('python {waiting['python'] + 1}')")
    approved = dashboard.api.get(f"/assist/examples/{examples['add']}").json()
    assert (approved["status"], approved["output"], approved["tests"], approved["reviewer"]) == (
        "approved", "def add(a, b):\n    return a + b", "assert add(2, 3) == 5", "admin"
    )  # fmt: skip

    page.click(f"{reverse} button[data-review=rejected]")
    page.wait_for_selector(reverse, state="detached")
    assert dashboard.api.get(f"/assist/examples/{examples['reverse']}").json()["status"] == (
        "rejected"
    )
    left = dashboard.api.get("/assist/examples", params={"status": "candidate"}).json()["total"]
    assert page.inner_text("#examples-count") == f"{left} example{'' if left == 1 else 's'}"


def test_review_filters_by_status_and_expert(dashboard: Dashboard, examples, page):
    page.goto(f"{dashboard.url}/#/assist/examples")
    page.wait_for_selector("article.example")
    page.select_option("#examples-status", "approved")
    page.wait_for_selector(f"{card(examples['sort'])}[data-status=approved]")
    statuses = page.eval_on_selector_all("article.example", "cs => cs.map(c => c.dataset.status)")
    assert statuses and set(statuses) == {"approved"}
    page.wait_for_url("**/#/assist/examples?status=approved")

    page.select_option("#examples-status", "all")
    page.select_option("#examples-expert", "turkish")
    page.wait_for_url("**/#/assist/examples?status=all&expert=turkish")
    page.wait_for_function("document.querySelectorAll('article.example').length === 1")
    assert page.locator(card(examples["proverb"])).count() == 1

    page.select_option("#examples-expert", "general")  # none: the empty line says where from
    page.wait_for_selector(
        "#examples .empty:has-text('No examples of general. Examples come from')"
    )
    page.reload()  # the filter is kept in the address
    page.wait_for_selector("#examples .empty")
    assert page.input_value("#examples-expert") == "general"


def test_a_fine_tune_with_no_llama_backend_is_refused_in_place(
    dashboard: Dashboard, examples, page
):
    page.goto(f"{dashboard.url}/#/assist/examples")
    page.wait_for_selector("#fine-tune-waiting[data-counts]")
    assert page.input_value("#fine-tune-expert") == "python"  # the expert with most waiting
    assert page.input_value("#fine-tune-steps") == "100"
    page.fill("#fine-tune-steps", "10")
    page.click("#fine-tune-start")
    refusal = page.wait_for_selector("#fine-tune-outcome .error-box").inner_text()
    assert "The fine-tune was not started" in refusal and "llama backend" in refusal


def test_the_fine_tune_form_asks_for_its_expert_and_sends_the_share_held_out(
    dashboard: Dashboard, examples, page
):
    nothing = {"data": [], "total": 0, "offset": 0, "limit": 500}
    page.route(re.compile(r".*/assist/examples\?status=approved&limit=500.*"),
               lambda route: route.fulfill(json=nothing))  # no example waits  # fmt: skip
    page.goto(f"{dashboard.url}/#/assist/examples")
    # Loaded whole once the route is in place: from the signed-in page, the address above
    # changes only the fragment (once in CI the page counted the real examples then).
    page.reload()
    page.wait_for_selector("#fine-tune-waiting[data-counts='{}']")
    assert page.input_value("#fine-tune-expert") == ""  # none assumed (general never promotes)
    assert page.input_value("#fine-tune-held-out") == "0.3"
    outcome = "#fine-tune-outcome .error-box"
    page.click("#fine-tune-start")
    assert "choose the expert whose adapter is trained" in page.inner_text(outcome)
    page.select_option("#fine-tune-expert", "python")
    page.fill("#fine-tune-held-out", "1")
    page.click("#fine-tune-start")
    page.wait_for_selector(f"{outcome}:has-text('held out must be a share from 0 to less than 1')")
    page.fill("#fine-tune-held-out", "0.5")
    with page.expect_request("**/api/v1/assist/fine-tunes") as asked:
        page.click("#fine-tune-start")
    assert asked.value.post_data_json == {"expert": "python", "steps": 100, "held_out": 0.5}
    page.wait_for_selector(f"{outcome}:has-text('llama backend')")  # this server has none


def _turn(dashboard: Dashboard, message: str) -> int:
    """The id of the echo's stored answer to ``message`` (a new conversation)."""
    with dashboard.api.stream("POST", "/chat", json={"message": message}) as answer:
        text = "".join(answer.iter_text())
    assert answer.status_code == 200, text
    last = text.strip().split("\n\n")[-1]
    assert last.startswith("event: end"), text
    return int(json.loads(last.split("data: ", 1)[1])["turn"]["id"])


def test_a_pass_run_now_shows_its_report_and_failure_patterns(
    dashboard: Dashboard, examples, page
):
    bad = _turn(dashboard, "write a python function that multiplies two numbers")
    _turn(dashboard, "write a python function that divides two numbers")
    dashboard.api.post(f"/chat/turns/{bad}/feedback", json={"verdict": "bad"}).raise_for_status()
    page.goto(f"{dashboard.url}/#/assist/nights")
    page.wait_for_selector("#nights .empty:has-text('No nightly pass yet')")
    page.click("#night-run")
    night = "article.night[data-status=completed]"
    page.wait_for_selector(f"{night} table.night-patterns")
    row = page.eval_on_selector_all(
        f"{night} table.night-patterns tbody tr >> nth=0 >> td",
        "cells => cells.map(c => c.textContent)",
    )
    assert row == ["code_python", "python", "echo", "2", "1", "0", "0", "50.0 %"]
    assert page.inner_text(f"{night} .night-turns") == "2"
    candidates = dashboard.api.get("/assist/examples", params={"status": "candidate"}).json()
    assert page.inner_text(f"{night} .night-candidates").startswith(str(candidates["total"]))
    assert "assist_memory" in page.inner_text(f"{night} .night-report")  # no facts: memory off
    # python's approved example waits: its fine-tune was asked for, and said why not
    started = page.inner_text(f"{night} .night-fine-tunes li")
    assert started.startswith("python — not started: a fine-tune needs a llama backend")
    page.reload()
    page.wait_for_selector(f"{night} table.night-patterns")
    shoot(page, "assist-nights")
    page.click(f"{night} .night-candidates a")
    page.wait_for_url("**/#/assist/examples")
    page.wait_for_selector(f"article.example .example-turn:text-is('from turn {bad}')")


def test_a_viewer_sees_neither_page_in_the_navigation(dashboard: Dashboard, browser):
    store = Store(f"sqlite:///{dashboard.home / 'azuraforge.db'}")
    try:
        store.create_user("vera", NO_PASSWORD)
        store.set_member(DEFAULT_PROJECT, "vera", "viewer")
        token = login_link(store, "vera", DEFAULT_PROJECT)
    finally:
        store.close()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{dashboard.url}/api/v1/auth/link?token={token}", wait_until="commit")
    page.goto(f"{dashboard.url}/#/assist/examples")
    refusal = page.wait_for_selector("main .error-box").inner_text()
    assert "Only the project's editors and admins see this page" in refusal
    assert page.locator("nav a[data-nav=chat]").is_visible()
    assert page.locator("nav a[data-nav=assist-examples]").is_hidden()
    assert page.locator("nav a[data-nav=assist-nights]").is_hidden()
    context.close()


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("review", "#/assist/examples?status=all"), ("nights", "#/assist/nights")],
)
def test_both_pages_fit_a_narrow_window(dashboard: Dashboard, examples, browser, name, fragment):
    context = browser.new_context(viewport=NARROW)
    page = signed_in(context.new_page())
    page.goto(f"{dashboard.url}/{fragment}")
    page.wait_for_selector("main .card")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    shoot(page, f"narrow-assist-{name}")
    assert page.locator("nav a[data-nav=assist-nights]").is_visible()
    context.close()
    assert overflow <= 1, f"{name}: {overflow}px wider than a {NARROW['width']}-px window"
