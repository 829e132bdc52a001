"""AzuraForge: build, train, track, serve and keep improving machine-learning models.

Importing the package is cheap: it carries only the version. Import the layer you need,
for example ``from azuraforge.core import Tensor, nn, optim``.
"""

__version__ = "0.1.0"
