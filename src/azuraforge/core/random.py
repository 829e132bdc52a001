"""The core's random number generator: parameter initialisation, dropout and shuffling.

One seeded generator makes a run repeatable: call :func:`manual_seed` once at the start.
"""

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
