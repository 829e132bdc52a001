"""The server's secret keys: each a file of its home, made on first use (32 random bytes as
hex, readable by its owner only), never a default one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from azuraforge.errors import ConflictError


def server_key(home: Path, name: str) -> bytes:
    """The key in ``home/name``, made on first use; two processes making it at once end
    with the same key (the first one written wins)."""
    path = home / name
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        made = home / f".{name}.{secrets.token_hex(4)}"
        descriptor = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(made, path)  # whole or not at all; another process's first one wins
        except FileExistsError:
            pass
        finally:
            made.unlink()
    key = path.read_bytes().strip()
    if len(key) < 64:  # 32 bytes as hex: a file emptied or cut short is no key
        raise ConflictError(
            f"{path} holds no usable key ({len(key)} characters, 64 expected): remove it "
            "and a new one is made (sessions or signatures made with the old one end)",
            public="the server's key is not usable; its administrator is told how to mend it",
        )
    return key
