"""MLflow's search filters and orders, parsed: ``search_runs``' (:func:`parse_filter`,
:func:`parse_order`) and ``search_experiments``' (:func:`parse_experiment_filter`,
:func:`parse_experiment_order`), into the store's :class:`RunCondition` and
:class:`RunOrder`; this server's statuses as MLflow names them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from azuraforge.errors import (
    InvalidParameterError,
)
from azuraforge.platform.store.mlflow_search import RunCondition, RunOrder
from azuraforge.platform.store.states import (
    CANCELLED,
    COMPLETED,
    FAILED,
    LOST,
    PRUNED,
    QUEUED,
    RUNNING,
)

RUN_NAME = "mlflow.runName"
"""The tag holding a run's name as MLflow shows it."""

STATUS_OF = {QUEUED: "SCHEDULED", RUNNING: "RUNNING", COMPLETED: "FINISHED", FAILED: "FAILED",
             LOST: "FAILED", CANCELLED: "KILLED", PRUNED: "KILLED"}  # fmt: skip
"""MLflow's status of each of this server's (``lost``: FAILED, its error saying so)."""
STATUSES_OF = {name: tuple(s for s, n in STATUS_OF.items() if n == name)
               for name in sorted(set(STATUS_OF.values()))}  # fmt: skip
"""This server's statuses of each of MLflow's."""


# -- search_runs' filter and order ----------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<op>!=|>=|<=|=|>|<|<>)
    | (?P<punct>[(),])
    | (?P<ident>[A-Za-z_][\w]*(?:\.(?:`[^`]*`|"[^"]*"|[\w.\-/:]+))?)
    )""",
    re.VERBOSE,
)
ENTITIES = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param",
            "parameter": "param", "parameters": "param", "tag": "tag", "tags": "tag",
            "attribute": "attribute", "attributes": "attribute", "attr": "attribute",
            "run": "attribute", "dataset": "dataset", "datasets": "dataset"}  # fmt: skip
ATTRIBUTES = ("status", "start_time", "end_time", "run_name", "run_id")
"""The run attributes a filter compares (``run_name`` is the tag ``mlflow.runName``)."""
ORDER_ATTRIBUTES = ("start_time", "end_time", "status", "run_name", "run_id", "created")
DATASET_KEYS = ("name", "digest", "context")
"""What a filter compares of a run's input datasets (``context``: the input's tag
``mlflow.data.context``)."""
_NUMERIC = ("=", "!=", ">", ">=", "<", "<=")
_TEXT = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")


def _tokens(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` of each token of a filter or order clause.

    >>> _tokens("metrics.`a b` >= -1.5 AND tags.mlflow.runName = 'x'")[:3]
    [('ident', 'metrics.`a b`'), ('op', '>='), ('number', '-1.5')]
    """
    found, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise InvalidParameterError(
                f"cannot read the filter at {text[at : at + 30].strip()!r} (character {at + 1})"
            )
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def _unquote(text: str) -> str:
    """A quoted string or key without its quotes (``\\'`` read as ``'``)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _identifier(text: str, *, order: bool = False) -> tuple[str, str]:
    """``(entity, key)`` of ``metrics.loss``, ``tags."a b"``, ``start_time``..."""
    entity, dot, key = text.partition(".")
    if not dot:
        entity, key = "attribute", text
    if entity.lower() not in ENTITIES:
        raise InvalidParameterError(
            f"{text!r} names no run field this server filters on: use metrics.<key>, "
            "params.<key>, tags.<key>, attributes.<name> or datasets.<name|digest|context>"
        )
    entity, key = ENTITIES[entity.lower()], _unquote(key)
    if entity == "dataset" and (order or key not in DATASET_KEYS):
        raise InvalidParameterError(
            f"{text!r}: runs are ordered by no dataset, and filtered by "
            f"{', '.join(f'datasets.{k}' for k in DATASET_KEYS)}"
        )
    if entity == "attribute":
        entity, key = _attribute(key, order=order)
    if not key:
        raise InvalidParameterError(f"{text!r} names no key")
    return entity, key


def _attribute(key: str, *, order: bool) -> tuple[str, str]:
    """``(entity, key)`` of the run attribute ``key`` (``run_name``: its tag), one that runs
    are filtered by (or, for an ``order``, ordered by)."""
    allowed = ORDER_ATTRIBUTES if order else ATTRIBUTES
    if key not in allowed:
        raise InvalidParameterError(
            f"attribute {key!r} is not one this server {'orders' if order else 'filters'}"
            f" by; attributes: {', '.join(allowed)}"
        )
    return ("tag", RUN_NAME) if key == "run_name" else ("attribute", key)


def parse_filter(text: str | None) -> list[RunCondition]:
    """The conditions of an MLflow ``search_runs`` filter: comparisons joined by ``AND``
    (``metrics.x > 1 AND params.y = 'a' AND tags.z != 'b' AND attributes.status =
    'FINISHED'``). Metrics compare with numbers, params, tags and ``run_name`` with quoted
    text (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN (...)``, ``NOT IN (...)``), ``status``
    with MLflow's statuses, ``start_time`` and ``end_time`` with milliseconds, ``run_id``
    with ids.

    >>> for c in parse_filter("metrics.rmse < 0.5 and params.lr = '0.1' AND "
    ...                       "attributes.status IN ('FINISHED', 'KILLED')"):
    ...     print(c.entity, c.key, c.op, c.value)
    metric rmse < 0.5
    param lr = 0.1
    attribute status IN ('completed', 'cancelled', 'pruned')

    Raises
    ------
    InvalidParameterError
        Naming what it does not read or serve (``OR``, a field, an operator, a value).
    """
    return _conditions(text, _comparison)


def _conditions(
    text: str | None,
    comparison: Callable[[list[tuple[str, str]], int], tuple[RunCondition, int]],
) -> list[RunCondition]:
    """The comparisons of ``text`` joined by ``AND``, each read by ``comparison``."""
    tokens = _tokens(text or "")
    conditions: list[RunCondition] = []
    at = 0
    while at < len(tokens):
        condition, at = comparison(tokens, at)
        conditions.append(condition)
        if at < len(tokens):
            kind, word = tokens[at]
            if word.upper() == "OR":
                raise InvalidParameterError(
                    "OR is not served: an MLflow filter joins its comparisons with AND"
                )
            if kind != "ident" or word.upper() != "AND":
                raise InvalidParameterError(f"expected AND between comparisons, got {word!r}")
            at += 1
            if at == len(tokens):
                raise InvalidParameterError("the filter ends with AND")
    return conditions


EXPERIMENT_ATTRIBUTES = ("name", "experiment_id", "creation_time", "last_update_time")
"""What an experiment search filters and orders by, beside ``tags.<key>``."""
_EXPERIMENT_TIMES = ("creation_time", "last_update_time")


def parse_experiment_filter(text: str | None) -> list[RunCondition]:
    """The conditions of an MLflow ``search_experiments`` filter: comparisons joined by
    ``AND`` of ``name`` (quoted text by ``=``, ``!=``, ``LIKE``, ``ILIKE``),
    ``creation_time`` and ``last_update_time`` (milliseconds, by ``=``, ``!=``, ``<``,
    ``<=``, ``>``, ``>=``), ``experiment_id`` (``=``, ``!=``, ``IN``, ``NOT IN``) and
    ``tags.<key>`` (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IS NULL``, ``IS NOT NULL``);
    attributes may be written ``attribute.name``.

    >>> for c in parse_experiment_filter("name ILIKE 'a%' AND tags.team IS NOT NULL AND "
    ...                                  "creation_time > 1000"):
    ...     print(c.entity, c.key, c.op, c.value)
    attribute name ILIKE a%
    tag team IS NOT NULL None
    attribute creation_time > 1.0

    Raises
    ------
    InvalidParameterError
        Naming what it does not read.
    """
    return _conditions(text, _experiment_comparison)


def _experiment_field(text: str) -> tuple[str, str]:
    """``(entity, key)`` of an experiment's field: ``attribute`` or ``tag``."""
    entity, dot, key = text.partition(".")
    if not dot:
        entity, key = "attribute", text
    entity = {"attribute": "attribute", "attributes": "attribute", "tag": "tag",
              "tags": "tag"}.get(entity.lower(), "")  # fmt: skip
    key = _unquote(key)
    if not entity:
        raise InvalidParameterError(
            f"Invalid entity type in {text!r}: an experiment is searched by attribute.<name> "
            "or tags.<key>"
        )
    if entity == "attribute" and key not in EXPERIMENT_ATTRIBUTES:
        raise InvalidParameterError(
            f"Invalid attribute key '{key}' specified. Valid keys are "
            f"{', '.join(EXPERIMENT_ATTRIBUTES)}"
        )
    if not key:
        raise InvalidParameterError(f"{text!r} names no key")
    return entity, key


def _experiment_comparison(tokens: list[tuple[str, str]], at: int) -> tuple[RunCondition, int]:
    kind, word = tokens[at]
    if kind != "ident":
        raise InvalidParameterError(f"expected a field (name, tags.<key>...), got {word!r}")
    entity, key = _experiment_field(word)
    words = [w.upper() for _, w in tokens[at + 1 : at + 4]]
    for op in ("IS NULL", "IS NOT NULL"):
        if words[: op.count(" ") + 1] == op.split():
            if entity != "tag":
                raise InvalidParameterError(f"{op} is served for tags, not for {word!r}")
            return RunCondition("tag", key, op, None), at + 1 + op.count(" ") + 1
    op, at = _operator(tokens, at + 1)
    value, at = _value(tokens, at)
    return _experiment_condition(entity, key, word, op, value), at


def _experiment_condition(entity: str, key: str, word: str, op: str, value: Any) -> RunCondition:
    """``word``'s comparison, its value checked against what the field compares with (its
    times in MLflow's milliseconds, its ids quoted)."""
    if key in _EXPERIMENT_TIMES:
        if op not in _NUMERIC or not isinstance(value, float):
            raise InvalidParameterError(
                f"{word} compares with a number by {', '.join(_NUMERIC)}; got {op} {value!r}"
            )
        return RunCondition(entity, key, op, value / 1000.0)
    if key == "experiment_id" and entity == "attribute":
        return _experiment_id_condition(word, op, value)
    if op not in ("=", "!=", "LIKE", "ILIKE") or not isinstance(value, str):
        raise InvalidParameterError(
            f"{word} compares with quoted text by =, !=, LIKE, ILIKE; got {op} {value!r}"
        )
    return RunCondition(entity, key, op, value)


def _experiment_id_condition(word: str, op: str, value: Any) -> RunCondition:
    """``experiment_id`` compared with quoted ids (one that is not ours matches nothing)."""
    values = value if isinstance(value, tuple) else (value,)
    if op not in ("=", "!=", "IN", "NOT IN") or not all(isinstance(v, str) for v in values):
        raise InvalidParameterError(f"{word} compares with quoted ids by =, !=, IN, NOT IN")
    ids = _our_ids(values)
    compared = ids if isinstance(value, tuple) else ids[0]
    return RunCondition("attribute", "experiment_id", op, compared)


def _our_ids(values: Sequence[str]) -> tuple[int, ...]:
    """Quoted ids as numbers; one that is not ours (not a number) matches nothing (-1)."""
    return tuple(int(v) if re.fullmatch(r"[0-9]{1,10}", v) else -1 for v in values)


def parse_experiment_order(clauses: Sequence[str] | None) -> list[RunOrder]:
    """The keys of a ``search_experiments`` ``order_by``: an attribute of
    :data:`EXPERIMENT_ATTRIBUTES`, ``ASC`` unless ``DESC``.

    >>> [(o.key, o.ascending) for o in parse_experiment_order(["name DESC", "experiment_id"])]
    [('name', False), ('experiment_id', True)]
    """
    orders = []
    for clause in clauses or ():
        field, ascending = _order_clause(clause)
        entity, key = _experiment_field(field)
        if entity != "attribute":
            raise InvalidParameterError(f"Invalid order_by entity: {entity}")
        orders.append(RunOrder(entity, key, ascending))
    return orders


def _order_clause(clause: str) -> tuple[str, bool]:
    """The field of one ``order_by`` clause and whether it ascends."""
    tokens = _tokens(clause)
    if not tokens or tokens[0][0] != "ident" or len(tokens) > 2:
        raise InvalidParameterError(f"cannot read order_by {clause!r}: give <field> [ASC|DESC]")
    direction = tokens[1][1].upper() if len(tokens) == 2 else "ASC"
    if direction not in ("ASC", "DESC"):
        raise InvalidParameterError(f"order_by {clause!r} ends with ASC or DESC")
    return tokens[0][1], direction == "ASC"


def _comparison(tokens: list[tuple[str, str]], at: int) -> tuple[RunCondition, int]:
    kind, word = tokens[at]
    if kind != "ident":
        raise InvalidParameterError(f"expected a field (metrics.<key>...), got {word!r}")
    entity, key = _identifier(word)
    op, at = _operator(tokens, at + 1)
    value, at = _value(tokens, at)
    return _typed(entity, key, op, value, word), at


def _operator(tokens: list[tuple[str, str]], at: int) -> tuple[str, int]:
    if at >= len(tokens):
        raise InvalidParameterError("the filter ends before its comparison's operator")
    kind, word = tokens[at]
    if kind == "op":
        if word == "<>":
            raise InvalidParameterError("the operator <> is not served: use !=")
        return word, at + 1
    upper = word.upper()
    if upper == "NOT" and at + 1 < len(tokens) and tokens[at + 1][1].upper() == "IN":
        return "NOT IN", at + 2
    if upper in ("LIKE", "ILIKE", "IN"):
        return upper, at + 1
    raise InvalidParameterError(
        f"{word!r} is not an operator served: use =, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN"
    )


def _value(tokens: list[tuple[str, str]], at: int) -> tuple[Any, int]:
    if at >= len(tokens):
        raise InvalidParameterError("the filter ends before its comparison's value")
    kind, word = tokens[at]
    if kind == "string":
        return _unquote(word), at + 1
    if kind == "number":
        return float(word), at + 1
    if word != "(":
        raise InvalidParameterError(
            f"expected a value (a number, a quoted text, or a list in parentheses), got {word!r}"
        )
    return _listed(tokens, at + 1)


def _listed(tokens: list[tuple[str, str]], at: int) -> tuple[tuple[Any, ...], int]:
    """The values of a list in parentheses whose first value is at ``at``; the token after
    its ``)``."""
    items: list[Any] = []
    while True:
        if at >= len(tokens):
            raise InvalidParameterError("a list of values is not closed with )")
        item, at = _value(tokens, at)
        if isinstance(item, tuple):
            raise InvalidParameterError("a list of values holds no list")
        items.append(item)
        if at < len(tokens) and tokens[at][1] == ",":
            at += 1
            continue
        if at < len(tokens) and tokens[at][1] == ")":
            return tuple(items), at + 1
        raise InvalidParameterError("a list of values separates them with , and ends with )")


def _typed(entity: str, key: str, op: str, value: Any, field: str) -> RunCondition:
    """The condition, its value checked against what ``field`` compares with."""
    listed = op in ("IN", "NOT IN")
    if listed != isinstance(value, tuple):
        raise InvalidParameterError(
            f"{op} compares {field} with {'a list (...)' if listed else 'one value'}"
        )
    values = value if listed else (value,)
    if entity == "metric" or (entity == "attribute" and key in ("start_time", "end_time")):
        return _numeric_condition(entity, key, op, value, values, field)
    _check_text(op, value, values, field)
    if entity == "attribute" and key == "status":
        return _status_condition(op, values, field)
    if entity == "attribute":
        return _run_id_condition(key, op, values, field, listed=listed)
    return RunCondition(entity, key, op, value)


def _check_text(op: str, value: Any, values: tuple[Any, ...], field: str) -> None:
    """Refuse a comparison of ``field`` that is not of quoted text by one of :data:`_TEXT`."""
    if op not in _TEXT or not all(isinstance(v, str) for v in values):
        raise InvalidParameterError(
            f"{field} compares with quoted text by {', '.join(_TEXT)}; got {op} {value!r}"
        )


def _numeric_condition(
    entity: str, key: str, op: str, value: Any, values: tuple[Any, ...], field: str
) -> RunCondition:
    """A metric's or a run's time compared with numbers (times in MLflow's milliseconds)."""
    if op not in _NUMERIC or not all(isinstance(v, float) for v in values):
        raise InvalidParameterError(
            f"{field} compares with a number by {', '.join(_NUMERIC)}; got {op} {value!r}"
        )
    if entity == "attribute":
        value = value / 1000.0  # MLflow's milliseconds, stored in seconds
    return RunCondition(entity, key, op, value)


def _run_id_condition(
    key: str, op: str, values: tuple[str, ...], field: str, *, listed: bool
) -> RunCondition:
    """``run_id`` compared with ids (one that is not ours matches no run)."""
    if op in ("LIKE", "ILIKE"):
        raise InvalidParameterError(f"{field} compares by =, !=, IN or NOT IN")
    ids = _our_ids(values)
    return RunCondition("attribute", key, op, ids if listed else ids[0])


def _status_condition(op: str, names: Sequence[str], field: str) -> RunCondition:
    if op in ("LIKE", "ILIKE"):
        raise InvalidParameterError(f"{field} compares by =, !=, IN or NOT IN")
    unknown = [n for n in names if n not in STATUSES_OF]
    if unknown:
        raise InvalidParameterError(
            f"{unknown[0]!r} is not an MLflow run status; statuses: {', '.join(STATUSES_OF)}"
        )
    ours = tuple(s for n in names for s in STATUSES_OF[n])
    return RunCondition("attribute", "status", "NOT IN" if op in ("!=", "NOT IN") else "IN", ours)


def parse_order(clauses: Sequence[str] | None) -> list[RunOrder]:
    """The keys of an MLflow ``order_by``: ``metrics.x DESC``, ``attributes.start_time``,
    ``params.p ASC``, ``tags.t`` (ascending unless ``DESC``).

    >>> [(o.entity, o.key, o.ascending) for o in parse_order(["metrics.`a b` DESC", "start_time"])]
    [('metric', 'a b', False), ('attribute', 'start_time', True)]
    """
    orders = []
    for clause in clauses or ():
        field, ascending = _order_clause(clause)
        entity, key = _identifier(field, order=True)
        orders.append(RunOrder(entity, key, ascending))
    return orders
