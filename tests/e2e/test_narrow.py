"""Every page of the dashboard on a 390-px window: nothing wider than the window (tables scroll
inside their frame), the navigation reachable."""

from __future__ import annotations

import contextlib

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import FINISHED, NARROW, Dashboard, shoot, signed_in

WIDER_THAN_THE_WINDOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def runs(dashboard: Dashboard) -> list[int]:
    ids = [dashboard.submit("sleeper", {"steps": n}) for n in (3, 5)]
    return [dashboard.wait_for(i, FINISHED)["id"] for i in ids]


@pytest.mark.parametrize(
    ("name", "fragment", "ready"),
    [
        ("experiments", "#/runs", "#runs-table[data-query]"),
        ("launch", "#/launch?pipeline=sleeper", "#field-steps"),
        ("run", "#/runs/{first}", "#loss-chart .main-svg"),
        ("compare", "#/compare?experiments={first},{second}", "#parallel-chart .parcoords"),
        ("studies", "#/studies", "main h1"),
        ("models", "#/models", "main h1"),
        ("chat", "#/chat", "#chat-form"),
    ],
)
def test_a_narrow_window_shows_the_page_without_sideways_scrolling(
    dashboard: Dashboard, browser, runs, name, fragment, ready
):
    context = browser.new_context(viewport=NARROW)
    page = signed_in(context.new_page())
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{dashboard.url}/{fragment.format(first=runs[0], second=runs[1])}")
    page.wait_for_selector(ready)
    with contextlib.suppress(PlaywrightTimeout):  # charts settle to the window's width
        page.wait_for_function(f"{WIDER_THAN_THE_WINDOW} <= 1", timeout=5_000)
    overflow = page.evaluate(WIDER_THAN_THE_WINDOW)
    shoot(page, f"narrow-{name}")
    assert page.locator("nav a[data-nav=models]").is_visible()
    context.close()
    assert overflow <= 1, f"{name}: {overflow}px wider than a {NARROW['width']}-px window"
    assert not errors
