"""The error tree's shared helper: long values cut the same way in every message."""

from azuraforge.errors import shorten


def test_short_text_is_shown_whole():
    assert shorten("x" * 60) == "x" * 60
    assert shorten("abc", quoted=True) == "'abc'"


def test_long_text_is_cut_and_says_how_long_it_was():
    assert shorten("x" * 61) == f"{'x' * 60}... (61 characters)"
    assert shorten("abcdef", most=2, quoted=True) == "'ab'... (6 characters)"
