"""Fixtures the core's tests share."""

import pytest

from azuraforge.core import get_num_threads, set_num_threads


@pytest.fixture
def restore_threads():
    """Give the core back the thread count it had before the test."""
    before = get_num_threads()
    yield
    set_num_threads(before)
