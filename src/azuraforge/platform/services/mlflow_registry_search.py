"""The searches of MLflow's model registry (``registered-models/search``,
``model-versions/search``) over AzuraForge's registry: MLflow's filter (comparisons of
``name``, ``tags.<key>`` and, for versions, ``run_id``, ``source_path`` and
``version_number``, joined by ``AND``) and ``order_by``, read here and applied to the
caller's project's models and versions."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.services.mlflow_api import page_offset, page_token
from azuraforge.platform.services.mlflow_registry import Json, versions_json
from azuraforge.platform.store import ModelRecord
from azuraforge.platform.store.interfaces import Registry

MODELS_PAGE = (100, 1000)
VERSIONS_PAGE = (10_000, 200_000)
"""The default and largest ``max_results`` of a search (MLflow's)."""
PROMPT_TAG = "mlflow.prompt.is_prompt"
"""The tag MLflow's client filters on in each search, to leave prompts out."""


@dataclass(frozen=True)
class Search:
    """The query of a registry search: MLflow's ``filter``, ``max_results``, ``order_by``
    and ``page_token``."""

    filter_text: str
    max_results: int | None
    order_by: list[str]
    token: str | None

    def page(self, items: list[Any], sizes: tuple[int, int]) -> tuple[list[Any], Json]:
        """One page of ``items`` (``sizes``: the default and largest ``max_results``), and
        the next page's token when there is one."""
        size = sizes[0] if self.max_results is None else self.max_results
        if size > sizes[1]:
            raise InvalidParameterError(
                "Invalid value for request parameter max_results. It must be at most "
                f"{sizes[1]}, but got value {size}"
            )
        offset = page_offset(self.token)
        more = {"next_page_token": page_token(offset + size)} if len(items) > offset + size else {}
        return items[offset : offset + size], more


MODEL_KEYS = ("name",)
VERSION_KEYS = ("name", "run_id", "source_path", "version_number")
MODEL_ORDER: dict[str, Callable[[ModelRecord], Any]] = {
    "name": lambda m: m.name,
    "creation_timestamp": lambda m: m.created_at,
    "timestamp": lambda m: m.created_at,
    "last_updated_timestamp": lambda m: m.updated_at,
}
VERSION_ORDER: dict[str, Callable[[Json], Any]] = {
    "name": lambda v: v["name"],
    "version_number": lambda v: int(v["version"]),
    "creation_timestamp": lambda v: v["creation_timestamp"],
    "timestamp": lambda v: v["creation_timestamp"],
    "last_updated_timestamp": lambda v: v["last_updated_timestamp"],
    "run_id": lambda v: v.get("run_id", ""),
}


def search_models(
    store: Registry, filter_text: str | None, order_by: Sequence[str], project: str
) -> list[ModelRecord]:
    """The project's models that meet the filter (on ``name`` and tags), in that order
    (default: by name)."""
    conditions = parse_filter(filter_text, MODEL_KEYS)
    records, _ = store.list_models(project=project, limit=2**31 - 1)
    kept = [r for r in records if matches(conditions, functools.partial(_model_value, r))]
    return ordered(kept, order_by or ["name ASC"], MODEL_ORDER)


def _model_value(record: ModelRecord, condition: Condition) -> Any:
    if condition.tag is not None:
        return _tag_value(record.tags, condition.tag)
    return record.name


def _tag_value(tags: dict[str, Any], key: str) -> Any:
    """The tag ``key``'s value; ``None`` when missing, but for the prompt tag, which MLflow's
    client adds to each search to leave prompts out (``!= 'true'``): none is a prompt here."""
    return tags.get(key, "false" if key == PROMPT_TAG else None)


def search_versions(
    store: Registry, filter_text: str | None, order_by: Sequence[str], project: str
) -> list[Json]:
    """The project's versions (as MLflow's) that meet the filter (on ``name``, ``run_id``,
    ``source_path``, ``version_number`` and tags), in that order (default: by name, newest
    first)."""
    conditions = parse_filter(filter_text, VERSION_KEYS)
    names = [c.value for c in conditions if c.key == "name" and c.op == "=" and c.tag is None]
    models = [str(names[0])] if names else None
    answers = versions_json(store, store.list_all_versions(models=models, project=project),
                            project)  # fmt: skip
    kept = [v for v in answers if matches(conditions, functools.partial(_version_value, v))]
    return ordered(kept, [*order_by, "name ASC", "version_number DESC"], VERSION_ORDER)


def _version_value(answer: Json, condition: Condition) -> Any:
    if condition.tag is not None:
        return _tag_value({t["key"]: t["value"] for t in answer["tags"]}, condition.tag)
    if condition.key == "version_number":
        return int(answer["version"])
    return answer.get({"source_path": "source"}.get(condition.key, condition.key))


def ordered(
    items: list[Any], order_by: Sequence[str], keys: dict[str, Callable[[Any], Any]]
) -> list[Any]:
    """``items`` sorted by the clauses of ``order_by`` (``"name ASC"``, ``"version_number
    DESC"``...), the first the most significant.

    Raises
    ------
    InvalidParameterError
        Naming a key not ordered by.
    """
    for clause in reversed(order_by):
        key, _, direction = clause.strip().partition(" ")
        key = key.removeprefix("attributes.").removeprefix("attribute.").strip("`")
        if key not in keys or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise InvalidParameterError(
                f"Invalid order by key '{clause}' specified. Valid keys are "
                f"'{set(keys)}' with ASC or DESC"
            )
        items = sorted(items, key=keys[key], reverse=direction.strip().upper() == "DESC")
    return items


@dataclass(frozen=True)
class Condition:
    """One comparison of a registry search's filter: ``key`` (``name``, ``run_id``,
    ``source_path``, ``version_number``, or ``tags.<key>`` as ``("tag", key)``)."""

    key: str
    tag: str | None
    op: str
    value: str | int | tuple[str, ...]


_CONDITION = re.compile(
    r"\s*(?P<key>(?:tags?|attributes?)\.(?:`[^`]+`|\"[^\"]+\"|[\w.-]+)|`[^`]+`|[\w]+)\s*"
    r"(?P<op>!=|<=|>=|=|<|>|\bNOT\s+I?LIKE\b|\bI?LIKE\b|\bNOT\s+IN\b|\bIN\b)\s*"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\([^)]*\)|-?[0-9]+)\s*",
    re.IGNORECASE,
)
_AND = re.compile(r"AND\b", re.IGNORECASE)


def parse_filter(text: str | None, keys: Sequence[str]) -> list[Condition]:
    """The comparisons of a registry search's filter, joined by ``AND`` (``name LIKE 'w%'
    AND tags.team = 'x'``), on ``keys`` and tags.

    Raises
    ------
    InvalidParameterError
        Naming what could not be read, or a key not searched.

    Examples
    --------
    >>> found = parse_filter("name LIKE 'w%' AND tags.`a key` IN ('x', 'y')", ("name",))
    >>> [(c.key, c.tag, c.op, c.value) for c in found]
    [('name', None, 'LIKE', 'w%'), ('tag', 'a key', 'IN', ('x', 'y'))]
    >>> matches(found, lambda c: "weather" if c.tag is None else "y")
    True
    >>> parse_filter("stage = 'Production'", ("name",))
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: Invalid attribute key 'stage' specified. Valid keys are '{'name'}'
    """  # noqa: E501
    conditions: list[Condition] = []
    at, text = 0, (text or "").strip()
    while at < len(text):
        found = _CONDITION.match(text, at)
        if found is None:
            raise InvalidParameterError(
                f"Invalid filter '{text[:300]}': cannot read from '{text[at : at + 40]}'; "
                "compare name, tags.<key> (and, for versions, run_id, source_path, "
                "version_number) with =, !=, LIKE, ILIKE or IN, joined by AND"
            )
        conditions.append(_condition(found, keys))
        at = found.end()
        joined = _AND.match(text, at)
        if joined is None and at < len(text):
            raise InvalidParameterError(f"Invalid filter '{text[:300]}': expected AND at {at}")
        at = joined.end() if joined else at
    return conditions


def _condition(found: re.Match[str], keys: Sequence[str]) -> Condition:
    entity, dot, key = found["key"].partition(".")
    if not dot:
        entity, key = "attribute", entity
    key = key.strip('`"')
    op = " ".join(found["op"].upper().split())
    value = _value(found["value"])
    if entity.lower() in ("tag", "tags"):
        return Condition("tag", key, op, value)
    if key not in keys:
        raise InvalidParameterError(
            f"Invalid attribute key '{key}' specified. Valid keys are '{set(keys)}'"
        )
    return Condition(key, None, op, value)


def _value(text: str) -> str | int | tuple[str, ...]:
    if text[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text[0] == "(":
        items = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", text)
        return tuple(single or double for single, double in items)
    return int(text)


def matches(conditions: Iterable[Condition], value_of: Callable[[Condition], Any]) -> bool:
    """Whether the values ``value_of`` reads meet every condition (a missing tag meets
    none)."""
    return all(_meets(value_of(c), c) for c in conditions)


def _meets(value: Any, condition: Condition) -> bool:
    op, wanted = condition.op, condition.value
    if value is None:
        return False
    if op in ("IN", "NOT IN"):
        listed = wanted if isinstance(wanted, tuple) else (str(wanted),)
        return (str(value) in listed) == (op == "IN")
    if op.endswith("LIKE"):
        pattern = re.escape(str(wanted)).replace("%", ".*").replace("_", ".")
        flags = re.IGNORECASE | re.DOTALL if "ILIKE" in op else re.DOTALL
        return bool(re.fullmatch(pattern, str(value), flags)) != op.startswith("NOT")
    if op in ("=", "!="):
        return (str(value) == str(wanted)) == (op == "=")
    if not isinstance(value, int) or not isinstance(wanted, int):
        raise InvalidParameterError(
            f"Invalid comparator '{op}' for '{condition.tag or condition.key}': only "
            "version_number compares with <, <=, > or >="
        )
    return _ORDERS[op](value, wanted)


_ORDERS: dict[str, Callable[[int, int], bool]] = {
    "<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__,
}  # fmt: skip
