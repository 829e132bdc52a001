"""Versioned LoRA adapters on disk, and a pool that loads them into a backend when needed.

The registry keeps each expert's adapters as numbered versions::

    <root>/<expert>/v3/
        peft/            the adapter as PEFT saved it (transformers backend, more training)
        adapter.gguf     the same adapter for llama.cpp
        version.json     base model and its SHA-256, data SHA-256, settings, metrics, created

A version folder appears whole or not at all (written aside, then renamed), and a number is
never given twice. :class:`AdapterPool` loads the adapters a conversation asks for into one
backend, at most ``capacity`` at a time, unloading the least recently used.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azuraforge.assist.adapters.convert import convert_adapter
from azuraforge.assist.backends.base import Backend
from azuraforge.assist.models import model_name
from azuraforge.errors import InvalidParameterError, NotFoundError

_EXPERT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VERSION = re.compile(r"^v([1-9][0-9]*)$")
VERSION_FILE = "version.json"
GGUF_FILE = "adapter.gguf"
EXPERT_MODEL = "expert-{}"
"""The platform's registered model of an expert's adapters (``expert-python``): its versions
are them, and the chat answers through the one its ``champion`` alias names."""
ADAPTER_PIPELINE = "assist-adapter"
"""The ``pipeline`` of an adapter kept as a run's model and registered on the platform: an
expert's version the chat loads, which predict does not serve."""
PEFT_FOLDER = "peft"


@dataclass(frozen=True)
class AdapterVersion:
    """One trained adapter of an expert, with what it was made from and how it scored."""

    expert: str
    version: int
    folder: Path
    base: str
    """The base model: a packaged model's name or a GGUF file's absolute path."""
    base_sha256: str
    data_sha256: str
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    origin: dict[str, Any] = field(default_factory=dict)
    """Where a version copied from elsewhere came from (a server's ``url``, ``model``,
    ``version`` and the files' ``artifact_digest``); empty for one trained here."""

    @property
    def name(self) -> str:
        """The name it is loaded under in a backend, ``<expert>@v<version>``."""
        return f"{self.expert}@v{self.version}"

    def file_for(self, backend: Backend) -> Path:
        """The file or folder ``backend`` loads: GGUF for llama.cpp, PEFT for transformers."""
        return self.folder / (PEFT_FOLDER if backend.adapter_format == "peft" else GGUF_FILE)


class AdapterRegistry:
    """The versions of every expert's adapter under ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def register(
        self,
        expert: str,
        peft_dir: str | Path,
        base_gguf: str | Path,
        *,
        base_sha256: str,
        data_sha256: str,
        settings: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> AdapterVersion:
        """Store the PEFT adapter in ``peft_dir`` as the expert's next version, converted to
        GGUF for ``base_gguf``; returns the new version."""
        record = {
            "base": model_name(base_gguf),
            "base_sha256": base_sha256,
            "data_sha256": data_sha256,
            "settings": dict(settings or {}),
            "metrics": dict(metrics or {}),
        }

        def fill(staging: Path) -> None:
            shutil.copytree(peft_dir, staging / PEFT_FOLDER)
            convert_adapter(staging / PEFT_FOLDER, base_gguf, staging / GGUF_FILE)

        return self._add(expert, fill, record)

    def add_copy(
        self, expert: str, files: str | Path, *, base: str, origin: Mapping[str, Any],
        data_sha256: str = "", settings: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> AdapterVersion:  # fmt: skip
        """Store a copy of an adapter version made elsewhere (the files in ``files``: its
        ``adapter.gguf``, and ``peft/`` if it has one) as the expert's next version, with
        ``origin`` saying where it came from (a server's registry version); the new version.
        Its base's SHA-256 is not known here (empty)."""
        record = {
            "base": base,
            "base_sha256": "",
            "data_sha256": data_sha256,
            "settings": dict(settings or {}),
            "metrics": dict(metrics or {}),
            "origin": dict(origin),
        }

        def fill(staging: Path) -> None:
            shutil.copytree(files, staging, dirs_exist_ok=True)

        return self._add(expert, fill, record)

    def _add(
        self, expert: str, fill: Callable[[Path], None], record: dict[str, Any]
    ) -> AdapterVersion:
        """The expert's next version: a folder ``fill`` writes the files of, with ``record``
        (and the time) as its version file, published whole or not at all."""
        folder = self.root / _checked(expert)
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        try:
            fill(staging)
            record = {**record, "created": time.time()}
            (staging / VERSION_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
            version = self._publish(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(expert, version)

    def _publish(self, staging: Path, folder: Path) -> int:
        """Rename ``staging`` to the next free ``v<N>``; a rename never overwrites a folder."""
        while True:
            number = max(self._numbers(folder), default=0) + 1
            try:
                staging.rename(folder / f"v{number}")
                return number
            except OSError:
                if not (folder / f"v{number}").exists():
                    raise  # another failure than a concurrent writer taking the number

    def experts(self) -> list[str]:
        """The experts that have at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if self._numbers(p))

    def versions(self, expert: str) -> list[AdapterVersion]:
        """Every version of ``expert``, oldest first (an empty list if it has none)."""
        folder = self.root / _checked(expert)
        return [self.get(expert, n) for n in sorted(self._numbers(folder))]

    def get(self, expert: str, version: int | None = None) -> AdapterVersion:
        """Version ``version`` of ``expert``, by default its newest.

        Raises
        ------
        NotFoundError
            The expert has no such version (or none at all).
        """
        folder = self.root / _checked(expert)
        numbers = self._numbers(folder)
        number = max(numbers, default=None) if version is None else version
        if number is None or number not in numbers:
            raise self._missing(expert, version, numbers)
        path = folder / f"v{number}"
        record = json.loads((path / VERSION_FILE).read_text(encoding="utf-8"))
        return AdapterVersion(expert=expert, version=number, folder=path, **record)

    def _missing(self, expert: str, version: int | None, numbers: set[int]) -> NotFoundError:
        where = f"expert {expert!r} has no adapter{'' if version is None else f' v{version}'}"
        if numbers:
            have = ", ".join(f"v{n}" for n in sorted(numbers))
            return NotFoundError(f"{where} in {self.root}; its versions: {have}")
        return NotFoundError(
            f"{where} in {self.root}; train one with: azuraforge assist train-expert {expert}"
        )

    def add_metrics(self, expert: str, version: int, metrics: Mapping[str, Any]) -> AdapterVersion:
        """Record figures measured after training (an evaluation) with a version; a figure of
        the same name is replaced. The file is rewritten whole or not at all, and writers of
        the same version (two evaluations ending at once) take turns, so none is lost."""
        folder = self.get(expert, version).folder
        with _locked(folder / ".version.lock"):
            path = folder / VERSION_FILE
            record = json.loads(path.read_text(encoding="utf-8"))
            record["metrics"].update(metrics)
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=folder, prefix=".version-", delete=False
            ) as partial:
                json.dump(record, partial, indent=2)
            Path(partial.name).replace(path)
        return self.get(expert, version)

    @staticmethod
    def _numbers(folder: Path) -> set[int]:
        if not folder.is_dir():
            return set()
        found = (_VERSION.match(p.name) for p in folder.iterdir())
        # A folder without its version file is not a version (written by hand, or damaged).
        return {int(m[1]) for m in found if m and (folder / m[0] / VERSION_FILE).is_file()}


class AdapterPool:
    """Loads registered adapters into ``backend`` on first use, keeping at most ``capacity``
    loaded: asking for another unloads the least recently used one.

    Safe to use from several threads. Unloading an adapter that a generation is using waits for
    that generation (the backend's contract), so answers under way keep their adapter.
    """

    def __init__(self, backend: Backend, registry: AdapterRegistry, capacity: int = 4) -> None:
        if capacity < 1:
            raise InvalidParameterError(f"capacity must be >= 1, got {capacity}")
        self.backend, self.registry, self.capacity = backend, registry, capacity
        self._loaded: OrderedDict[str, AdapterVersion] = OrderedDict()
        self._lock = threading.Lock()

    def ensure(self, expert: str, version: int | None = None) -> str:
        """The backend's name of ``expert``'s adapter (its newest version by default), loading
        it if needed.

        Raises
        ------
        NotFoundError
            The registry has no such adapter.
        """
        wanted = self.registry.get(expert, version)
        with self._lock:
            if wanted.name in self._loaded:
                self._loaded.move_to_end(wanted.name)
                return wanted.name
            while len(self._loaded) >= self.capacity:
                oldest, _ = self._loaded.popitem(last=False)
                self.backend.unload_adapter(oldest)
            self.backend.load_adapter(wanted.name, wanted.file_for(self.backend))
            self._loaded[wanted.name] = wanted
            return wanted.name

    def loaded(self) -> list[str]:
        """The loaded adapters' names, least recently used first."""
        with self._lock:
            return list(self._loaded)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created) across processes, held for the block."""
    with path.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _checked(expert: str) -> str:
    if not _EXPERT_NAME.match(expert):
        raise InvalidParameterError(
            f"expert names are 1-64 lowercase letters, digits, '-' or '_', got {expert!r}"
        )
    return expert
