"""Random state for initialisation and dropout, owned by a run (like ``torch.Generator``).

A :class:`Generator` is a seeded stream a run owns. :func:`use_generator` makes it the
*current* generator for a block; the current generator is kept in a context variable, so
every thread (and every asyncio task) has its own, and a new thread starts on the process
default. :func:`manual_seed` reseeds that process default, for scripts that run one thing at
a time. Two runs in one process, each under ``use_generator(Generator(seed))``, draw the
same numbers as when each runs alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from azuraforge.errors import InvalidParameterError


def _checked_seed(seed: Any, who: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"{who} needs an int >= 0, got {seed!r}")
    return int(seed)


class Generator:
    """A seeded random stream for initialisation and dropout; use it with :func:`use_generator`.

    Parameters
    ----------
    seed
        An int >= 0; ``None`` seeds from the operating system's entropy (not repeatable).

    Raises
    ------
    InvalidParameterError
        If ``seed`` is not ``None`` or an int >= 0.

    Examples
    --------
    >>> gen = Generator(0)
    >>> state = gen.get_state()
    >>> first = gen.numpy_generator.random()
    >>> gen.set_state(state)
    >>> gen.numpy_generator.random() == first
    True
    >>> gen.manual_seed(0).numpy_generator.random() == first
    True
    """

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None:
            seed = _checked_seed(seed, "Generator")
        self._numpy_generator = np.random.default_rng(seed)

    @property
    def numpy_generator(self) -> np.random.Generator:
        """The underlying NumPy generator (the same object for the generator's whole life)."""
        return self._numpy_generator

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed`` (the draws of ``Generator(seed)``); returns ``self``.

        Raises
        ------
        InvalidParameterError
            If ``seed`` is not an int >= 0.
        """
        seed = _checked_seed(seed, "Generator.manual_seed")
        # Reseed in place, so code holding numpy_generator sees the new stream.
        self._numpy_generator.bit_generator.state = np.random.PCG64(seed).state
        return self

    def get_state(self) -> dict[str, Any]:
        """The position in the stream, as plain data (dicts, strings and ints) for JSON."""
        # NumPy builds a fresh dict on every read (typed as a Mapping), so no copy is needed.
        return dict(self._numpy_generator.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Go back to a position :meth:`get_state` returned.

        Raises
        ------
        InvalidParameterError
            If ``state`` is not a state :meth:`get_state` of a generator returned.
        """
        try:
            self._numpy_generator.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as e:
            raise InvalidParameterError(
                f"Generator.set_state needs a state from Generator.get_state(), got {state!r}: {e}"
            ) from None

    def __repr__(self) -> str:
        return f"Generator({type(self._numpy_generator.bit_generator).__name__})"


default_generator = Generator()
"""The process default generator: current wherever no :func:`use_generator` is active."""

_current: ContextVar[Generator] = ContextVar("azuraforge_generator", default=default_generator)


def manual_seed(seed: int) -> None:
    """Reseed the process default generator (not one made current by :func:`use_generator`).

    Raises
    ------
    InvalidParameterError
        If ``seed`` is not an int >= 0.

    Examples
    --------
    >>> manual_seed(0); a = generator().random()
    >>> manual_seed(0); a == generator().random()
    True
    """
    default_generator.manual_seed(_checked_seed(seed, "manual_seed"))


def current_generator() -> Generator:
    """The :class:`Generator` initialisation and dropout draw from in this thread or task."""
    return _current.get()


def generator() -> np.random.Generator:
    """The NumPy generator of :func:`current_generator`."""
    return _current.get().numpy_generator


@contextmanager
def use_generator(gen: Generator) -> Iterator[Generator]:
    """Make ``gen`` the current generator for the block, in this thread (or task) only.

    Blocks nest; leaving one restores the generator that was current before it. Other
    threads keep drawing from their own current generator. A generator shared by two
    threads running at once interleaves their draws, so give each run its own.

    Raises
    ------
    InvalidParameterError
        If ``gen`` is not a :class:`Generator`.

    Examples
    --------
    >>> from azuraforge.core import nn
    >>> with use_generator(Generator(0)):
    ...     first = nn.Linear(2, 2).weight.data
    >>> with use_generator(Generator(0)):
    ...     second = nn.Linear(2, 2).weight.data
    >>> bool((first == second).all())
    True
    """
    if not isinstance(gen, Generator):
        raise InvalidParameterError(
            "use_generator needs an azuraforge.core.Generator, got "
            f"{type(gen).__module__}.{type(gen).__qualname__}; make one with Generator(seed)"
        )
    token = _current.set(gen)
    try:
        yield gen
    finally:
        _current.reset(token)


@contextmanager
def fork_rng() -> Iterator[None]:
    """Run the block, then put the current generator back as it was (``torch.random.fork_rng``).

    Examples
    --------
    >>> manual_seed(0)
    >>> with fork_rng():
    ...     _ = generator().random()
    >>> manual_seed(0); first = generator().random()
    >>> manual_seed(0)
    >>> with fork_rng():
    ...     _ = generator().random()
    >>> generator().random() == first
    True
    """
    forked = current_generator()
    state = forked.get_state()
    try:
        yield
    finally:
        forked.set_state(state)
