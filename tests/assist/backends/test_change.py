"""The change test of the backend selector: how often it cries change when nothing changed
(measured, not assumed), how soon it sees a backend that broke, and its settings."""

from __future__ import annotations

import random

import pytest

from azuraforge.assist.backends.change import ChangeTest
from azuraforge.errors import InvalidParameterError


@pytest.mark.parametrize(
    ("rate", "bar"), [(0.035, 0.01), (0.075, 0.04), (0.5, 0.22), (0.98, 0.12)]
)
def test_under_no_change_a_change_is_rarely_declared(rate, bar):
    """200 verdicts at one rate, 300 streams: the rates of the real replay (3.5 %, 7.5 %), a
    coin and a backend that nearly always answers well (measured: 0.25, 2, 17.5 and 9 % of 400)."""
    declared = 0
    for seed in range(300):
        draw, test = random.Random(seed), ChangeTest()
        declared += any(test.update(draw.random() < rate) for _ in range(200))
    assert declared / 300 <= bar


def test_a_backend_that_breaks_is_seen_within_a_few_answers():
    delays = []
    for seed in range(200):
        draw, test = random.Random(seed), ChangeTest()
        for _ in range(8):
            test.update(draw.random() < 0.98)
        delays.append(next((k for k in range(1, 41) if test.update(draw.random() < 0.15)), 99))
    assert sorted(delays)[100] <= 4 and sorted(delays)[180] <= 9  # measured: 3 and 7


def test_after_a_change_only_the_verdicts_since_it_count():
    test = ChangeTest(good=20)  # restored counts are the earlier verdicts
    changed = next(n for n in (test.update(False) for _ in range(6)) if n)
    assert (test.good, test.bad) == (0.0, float(changed)) and changed <= 4


@pytest.mark.parametrize(
    ("options", "message"),
    [({"window": 0}, "window and min_before must be >= 1, got 0"),
     ({"alpha": 1.0}, "alpha must be in (0, 1), got 1.0"),
     ({"rise_alpha": 0.0}, "rise_alpha must be in (0, 1), got 0.0")],
)  # fmt: skip
def test_bad_settings_are_clear_errors(options, message):
    with pytest.raises(
        InvalidParameterError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        ChangeTest(**options)
