"""The core's random number generator: parameter initialisation, dropout and shuffling.

One seeded generator makes a run repeatable: call :func:`manual_seed` once at the start.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from azuraforge.errors import InvalidParameterError

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the generator used for initialisation and dropout.

    Examples
    --------
    >>> manual_seed(0); a = generator().random()
    >>> manual_seed(0); a == generator().random()
    True
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"manual_seed needs an int >= 0, got {seed!r}")
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The current generator (replaced by :func:`manual_seed`)."""
    return _generator


@contextmanager
def fork_rng() -> Iterator[None]:
    """Run the block, then put the generator back as it was (like ``torch.random.fork_rng``).

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
    state = _generator.bit_generator.state
    try:
        yield
    finally:
        _generator.bit_generator.state = state
