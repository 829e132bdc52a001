"""What changed in the API's OpenAPI document between two commits (issue 66: a redesign that
keeps the API must show only schema names here).

Each commit's ``src`` is exported and its app built (``create_app`` on a new SQLite store) in a
child process; the two documents are then compared:

- paths and operations added or gone, and how many of the added ones are deprecated;
- schemas added or gone, and those of one name whose content changed;
- operations in both that changed, with the fields that did, after reading a gone schema as
  the added one of the same content (a rename);
- added operations that are another path's operation (its prefix swapped) but for their tags
  and operation id: an alias.

Usage::

    .venv/bin/python benchmarks/openapi_diff.py OLD [NEW] [--alias OLD_PREFIX=NEW_PREFIX]

NEW is a commit too; without it, the working tree's ``src``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import ROOT, child_answer, exported_source

DUMP = """
import json, sys
from pathlib import Path
from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, upgrade_database
settings = Settings(home=Path(sys.argv[1]), session_key="k" * 40)
upgrade_database(settings.database_url)
print(json.dumps(create_app(settings, store=Store(settings.database_url)).openapi()))
"""

Operations = dict[tuple[str, str], dict[str, Any]]
NOT_COMPARED_IN_AN_ALIAS = ("tags", "operationId", "deprecated")
"""What an alias may differ in from the operation it repeats (the old one is deprecated)."""


def document(source: Path, home: Path) -> dict[str, Any]:
    """The OpenAPI document of the package in ``source`` (a ``src`` folder), its app made
    on a new store in ``home``."""
    env = {"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-c", DUMP, str(home)]
    return child_answer(command, f"the OpenAPI of {source}", env=env)


def operations(doc: dict[str, Any]) -> Operations:
    """Each operation of ``doc`` by its path and method."""
    return {
        (path, method): op for path, item in doc["paths"].items() for method, op in item.items()
    }


def renames(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """Schemas gone from ``old`` whose content an added one of ``new`` has (but for its title,
    the class's name), by their names."""
    gone = set(old) - set(new)
    came = set(new) - set(old)
    pairs = ((g, c) for g in sorted(gone) for c in sorted(came))
    return {g: c for g, c in pairs if untitled(old[g]) == untitled(new[c])}


def untitled(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without its own title."""
    return {field: value for field, value in schema.items() if field != "title"}


def renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with its references to the schemas of ``names`` made to the new names."""
    text = json.dumps(value, sort_keys=True)
    for old_name, new_name in names.items():
        text = text.replace(f'/schemas/{old_name}"', f'/schemas/{new_name}"')
    return json.loads(text)


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields of an operation that differ."""
    return sorted(f for f in set(old) | set(new) if old.get(f) != new.get(f))


def report(old: dict[str, Any], new: dict[str, Any], aliases: dict[str, str]) -> list[str]:
    """The differences of ``new`` from ``old``, a line each."""
    old_schemas, new_schemas = old["components"]["schemas"], new["components"]["schemas"]
    names = renames(old_schemas, new_schemas)
    old_ops, new_ops = operations(old), operations(new)
    added = sorted(set(new_ops) - set(old_ops))
    changed = {n for n in set(old_schemas) & set(new_schemas) if old_schemas[n] != new_schemas[n]}
    lines = [
        f"operations gone: {sorted(set(old_ops) - set(new_ops))}",
        f"operations added: {len(added)}, deprecated: "
        f"{sum(bool(new_ops[k].get('deprecated')) for k in added)}",
        f"schemas gone: {sorted(set(old_schemas) - set(new_schemas))}",
        f"schemas added: {sorted(set(new_schemas) - set(old_schemas))}",
        f"schemas renamed, their content the same: {names}",
        f"schemas of one name whose content changed: {sorted(changed)}",
    ]
    for key in sorted(set(old_ops) & set(new_ops)):
        fields = changed_fields(renamed(old_ops[key], names), new_ops[key])
        if fields:
            lines.append(f"changed: {key[1].upper()} {key[0]}: {', '.join(fields)}")
    for path, method in added:
        alias = alias_of(path, method, old_ops, new_ops, names, aliases)
        lines.append(f"added: {method.upper()} {path}{alias}")
    return lines


def alias_of(path: str, method: str, old_ops: Operations, new_ops: Operations,
             names: dict[str, str], aliases: dict[str, str]) -> str:  # fmt: skip
    """`` (alias of ...)`` when the added operation is an old path's but for its tags and id."""
    for old_prefix, new_prefix in aliases.items():
        other = (path.replace(new_prefix, old_prefix, 1), method)
        if other in old_ops:
            fields = changed_fields(renamed(old_ops[other], names), new_ops[(path, method)])
            differs = [f for f in fields if f not in NOT_COMPARED_IN_AN_ALIAS]
            said = "" if not differs else f", but for {', '.join(differs)}"
            return f" (alias of {method.upper()} {other[0]}{said})"
    return ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="a commit")
    parser.add_argument("new", nargs="?", help="a commit (default: the working tree)")
    parser.add_argument(
        "--alias", action="append", default=[], metavar="OLD_PREFIX=NEW_PREFIX",
        help="a path prefix the new document serves the old one's operations at",
    )  # fmt: skip
    args = parser.parse_args(argv)
    aliases = dict(alias.split("=", 1) for alias in args.alias)
    with tempfile.TemporaryDirectory() as work:
        work_path = Path(work)
        old = document(exported_source(args.old, work_path), work_path / "old")
        new_source = exported_source(args.new, work_path) if args.new else ROOT / "src"
        new = document(new_source, work_path / "new")
    print(f"OpenAPI of {args.new or 'the working tree'} against {args.old}:")
    print("\n".join(report(old, new, aliases)))


if __name__ == "__main__":
    main()
