"""What a message wants: the six intents, labelled examples and template expansion.

An intent dataset is either a labelled file (JSONL with ``text`` and ``label`` on each line,
or CSV with a ``text`` and a ``label`` column) or a template file (YAML) whose sentences are
expanded. Template syntax, as the EVO-TR seed augments its data:

- ``(a|b|c)`` one of the alternatives, which may themselves hold templates;
- ``[word]`` the word or nothing (the same as ``(word|)``);
- ``{name}`` each item of the file's list ``name``.

>>> expand("(merhaba|selam)[ dostum]")
['merhaba dostum', 'merhaba', 'selam dostum', 'selam']
>>> expand("{n} apples", {"n": ["two", "three"]})
['two apples', 'three apples']
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError

INTENTS: dict[str, str] = {
    "general_chat": "greetings, small talk and everyday questions",
    "turkish_culture": "Turkish idioms, proverbs, history, cuisine, traditions and places",
    "code_python": "write, explain or improve Python code",
    "code_debug": "an error, a traceback or code that misbehaves",
    "memory_recall": "what the user said or asked in earlier conversations",
    "project_data": "this project's own runs, models, data files and streams (their figures)",
}
"""The seed's five intents and ``project_data`` (questions about the project's own data,
answered from its rows: :mod:`~azuraforge.assist.facts`), with what each covers."""

FALLBACK_INTENT = "general_chat"

MAX_TEXT_CHARS = 20_000
"""Longer texts in a dataset are refused: a message is not a document."""


@dataclass(frozen=True)
class Example:
    """One labelled message; ``group`` names the template it was expanded from (empty for a
    labelled file), so that calibration holds out whole templates."""

    text: str
    label: str
    group: str = ""


def expand(template: str, lists: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Every sentence ``template`` stands for, in order, with surrounding spaces squeezed.

    Raises
    ------
    InvalidParameterError
        Unbalanced brackets, or a ``{name}`` the lists do not hold.
    """
    parser = _TemplateParser(template, lists or {})
    return list(dict.fromkeys(_tidy(s) for s in parser.parse()))


def _tidy(sentence: str) -> str:
    """One space between words, none before punctuation (an empty option leaves gaps)."""
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(sentence.split()))


_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([?!.,:;])")


class _TemplateParser:
    """Recursive descent over the template: a sequence of text, groups and list names."""

    def __init__(self, template: str, lists: Mapping[str, Sequence[str]]) -> None:
        self.text, self.lists, self.pos = template, lists, 0

    def parse(self) -> list[str]:
        alternatives = self._alternatives(closing="")
        if self.pos != len(self.text):
            raise self._error(f"unexpected {self.text[self.pos]!r}")
        return alternatives

    def _alternatives(self, closing: str) -> list[str]:
        options = [self._sequence(closing)]
        while self.pos < len(self.text) and self.text[self.pos] == "|":
            self.pos += 1
            options.append(self._sequence(closing))
        return [s for option in options for s in option]

    def _sequence(self, closing: str) -> list[str]:
        parts: list[list[str]] = []
        while self.pos < len(self.text) and self.text[self.pos] not in "|" + closing:
            parts.append(self._part())
        return ["".join(p) for p in itertools.product(*parts)]

    def _part(self) -> list[str]:
        char = self.text[self.pos]
        if char in "([":
            closing = ")" if char == "(" else "]"
            self.pos += 1
            inner = self._alternatives(closing)
            if self.pos >= len(self.text) or self.text[self.pos] != closing:
                raise self._error(f"{char!r} is never closed with {closing!r}")
            self.pos += 1
            return [*inner, ""] if char == "[" else inner
        if char == "{":
            return self._list_items()
        if char in ")]}":
            raise self._error(f"{char!r} closes nothing")
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "()[]{}|":
            self.pos += 1
        return [self.text[start : self.pos]]

    def _list_items(self) -> list[str]:
        end = self.text.find("}", self.pos)
        if end < 0:
            raise self._error("'{' is never closed with '}'")
        name = self.text[self.pos + 1 : end]
        if name not in self.lists:
            known = ", ".join(sorted(self.lists)) or "none"
            raise self._error(f"no list named {name!r}; lists: {known}")
        self.pos = end + 1
        return list(self.lists[name])

    def _error(self, what: str) -> InvalidParameterError:
        return InvalidParameterError(f"template {self.text!r}, at character {self.pos}: {what}")


def load_examples(
    path: str | Path,
    *,
    labels: Iterable[str] | None = None,
    per_template: int | None = None,
    seed: int = 0,
) -> list[Example]:
    """Labelled examples from a JSONL, CSV or YAML template file.

    Parameters
    ----------
    path
        ``.jsonl``/``.json`` (one object with ``text`` and ``label`` per line), ``.csv``
        (columns ``text`` and ``label``) or ``.yaml``/``.yml`` (template file: ``lists`` of
        named word lists and ``intents``, a mapping of label to templates).
    labels
        The labels allowed (default: any). Another label is an error naming the line.
    per_template
        At most this many sentences from one template, picked with ``seed`` (default: all).

    Raises
    ------
    NotFoundError
        The file does not exist.
    DataFormatError
        A line or row without text and label, a label not allowed, an empty file.
    """
    file = Path(path)
    if not file.is_file():
        raise NotFoundError(f"intent data {str(file)!r} not found")
    suffix = file.suffix.lower()
    if suffix in (".yaml", ".yml"):
        examples = _from_templates(file, per_template, seed)
    elif suffix == ".csv":
        examples = _from_csv(file)
    elif suffix in (".jsonl", ".json"):
        examples = _from_jsonl(file)
    else:
        raise DataFormatError(f"{file}: intent data must be .jsonl, .csv or .yaml, got {suffix!r}")
    _check(file, examples, labels)
    return examples


def _from_jsonl(file: Path) -> list[Example]:
    examples = []
    for number, line in enumerate(_text(file).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(f"{file}, line {number}: not JSON ({e.msg})") from None
        examples.append(_example(record, f"{file}, line {number}"))
    return examples


def _from_csv(file: Path) -> list[Example]:
    reader = csv.DictReader(io.StringIO(_text(file), newline=""))
    missing = {"text", "label"} - set(reader.fieldnames or ())
    if missing:
        raise DataFormatError(f"{file}: no column {', '.join(sorted(missing))} in the header")
    return [_example(row, f"{file}, row {n}") for n, row in enumerate(reader, start=2)]


def _text(file: Path) -> str:
    """The file as UTF-8 text, without the byte-order mark Excel's "CSV UTF-8" writes.

    Raises
    ------
    DataFormatError
        For a binary file or text in another encoding, naming the line and the byte.
    """
    data = file.read_bytes()
    if b"\x00" in data:
        raise DataFormatError(f"{file}: a binary file, not text (it holds NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataFormatError(
            f"{file}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02X}); save it as "
            "UTF-8 (Excel: 'CSV UTF-8')"
        ) from None


def _example(record: Any, where: str) -> Example:
    if not isinstance(record, dict):
        raise DataFormatError(f"{where}: expected an object with text and label")
    text, label = record.get("text"), record.get("label")
    if not isinstance(text, str) or not text.strip():
        raise DataFormatError(f"{where}: 'text' must be a non-empty string")
    if not isinstance(label, str) or not label.strip():
        raise DataFormatError(f"{where}: 'label' must be a non-empty string")
    return Example(text.strip(), label.strip())


def _from_templates(file: Path, per_template: int | None, seed: int) -> list[Example]:
    import yaml

    text = _text(file)
    try:
        spec, document = yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as e:
        raise DataFormatError(f"{file}: not YAML ({e})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("intents"), dict):
        raise DataFormatError(f"{file}: a template file needs a mapping 'intents'")
    _check_template_lists(file, document)
    lists = spec.get("lists") or {}
    rng = random.Random(seed)
    examples = []
    for label, templates in spec["intents"].items():
        for number, template in enumerate(templates or ()):
            try:
                sentences = expand(str(template), lists)
            except InvalidParameterError as e:
                raise DataFormatError(f"{file}, intent {label!r}: {e}") from None
            if per_template is not None and len(sentences) > per_template:
                sentences = rng.sample(sentences, per_template)
            examples += [Example(s, str(label), f"{label}/{number}") for s in sentences if s]
    return examples


def _check_template_lists(file: Path, document: Any) -> None:
    """Each intent of a template file's ``intents`` (the composed YAML ``document``) is a
    non-empty list of template strings: another layout (a mapping under an intent, one
    string) would train on its keys or letters.

    Raises
    ------
    DataFormatError
        Naming the line of the first intent that is not.
    """
    import yaml

    (intents,) = (value for key, value in document.value if key.value == "intents")
    for key, value in intents.value:
        where = f"{file}, line {value.start_mark.line + 1}: intent {key.value!r}"
        if value.tag == "tag:yaml.org,2002:null":
            raise DataFormatError(f"{where} has no templates")
        if not isinstance(value, yaml.SequenceNode):
            shape = "a mapping" if isinstance(value, yaml.MappingNode) else "one value"
            raise DataFormatError(
                f"{where} must be a list of templates ('- merhaba [dostum]'), got {shape}"
            )
        if not value.value:
            raise DataFormatError(f"{where} has no templates")
        for item in value.value:
            if not isinstance(item, yaml.ScalarNode):
                raise DataFormatError(
                    f"{file}, line {item.start_mark.line + 1}: intent {key.value!r}: a "
                    "template must be one line of text, got a list or mapping"
                )


UNEVEN = 10
"""How many times more examples one intent may have than another before training warns."""


def uneven_counts(counts: Mapping[str, int]) -> str | None:
    """A warning when the largest intent has more than :data:`UNEVEN` times the examples of
    the smallest (a router then leans to the large one), saying how to even them; else None.

    Examples
    --------
    >>> uneven_counts({"greeting": 90, "code_debug": 2, "thanks": 40}).split(":")[0]
    "intent 'code_debug' has 2 examples against 90 for 'greeting'"
    >>> uneven_counts({"a": 10, "b": 5}) is None
    True
    """
    if len(counts) < 2:
        return None
    small, large = min(counts, key=counts.__getitem__), max(counts, key=counts.__getitem__)
    if counts[large] <= UNEVEN * counts[small]:
        return None
    return (
        f"intent {small!r} has {counts[small]:,} examples against {counts[large]:,} for "
        f"{large!r}: the router will lean away from it; add examples or templates to it (a "
        "template's [optional] parts and (a|b) choices multiply its sentences)"
    )


def _check(file: Path, examples: list[Example], labels: Iterable[str] | None) -> None:
    if not examples:
        raise DataFormatError(f"{file}: no examples")
    allowed = set(labels) if labels is not None else None
    for example in examples:
        if allowed is not None and example.label not in allowed:
            raise DataFormatError(
                f"{file}: label {example.label!r} is not one of {', '.join(sorted(allowed))}"
            )
        if len(example.text) > MAX_TEXT_CHARS:
            raise DataFormatError(
                f"{file}: a text of {len(example.text):,} characters; at most {MAX_TEXT_CHARS:,}"
            )
