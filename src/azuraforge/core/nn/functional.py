"""``torch.nn.functional``'s place: ``from azuraforge.core.nn import functional as F`` is the
core's functional module (:mod:`azuraforge.core.functional`) under the name a PyTorch script
imports it by."""

from azuraforge.core.functional import *  # noqa: F403
from azuraforge.core.functional import __all__  # noqa: F401
