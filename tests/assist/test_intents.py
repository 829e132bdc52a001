"""Template expansion and intent files (JSONL, CSV, YAML templates)."""

import json
from collections import Counter

import pytest

from azuraforge.assist.intents import INTENTS, Example, expand, load_examples
from azuraforge.assist.routing import PER_TEMPLATE, SHIPPED_DATA
from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError


def test_expand_alternatives_optionals_and_lists_multiply():
    lists = {"city": ["İzmir", "Van"]}
    got = expand("(what to eat|what to see) in {city}[ today]?", lists)
    assert len(got) == 8
    assert "what to see in Van today?" in got and "what to eat in İzmir?" in got


def test_expand_nests_groups_and_squeezes_spaces_left_by_empty_options():
    assert expand("a (b|c [d]) (|e) ?") == [
        "a b?",
        "a b e?",
        "a c d?",
        "a c d e?",
        "a c?",
        "a c e?",
    ]


@pytest.mark.parametrize(
    "template, message",
    [("(a|b", "never closed"), ("a]", "closes nothing"), ("{nope}", "no list named 'nope'")],
)
def test_expand_says_where_a_template_is_broken(template, message):
    with pytest.raises(InvalidParameterError, match=message):
        expand(template)


def test_jsonl_and_csv_give_the_same_examples(tmp_path):
    rows = [("merhaba", "general_chat"), ('KeyError: "a", help', "code_debug")]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"text": t, "label": label}) for t, label in rows) + "\n\n"
    )
    csv_file = tmp_path / "d.csv"
    csv_file.write_text('label,text\ngeneral_chat,merhaba\ncode_debug,"KeyError: ""a"", help"\n')
    expected = [Example(t, label) for t, label in rows]
    assert load_examples(jsonl) == expected
    assert load_examples(csv_file, labels=INTENTS) == expected


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("a.jsonl", '{"text": "hi"}\n', "line 1: 'label' must be"),
        ("a.jsonl", '{"text": "hi", "label": "x"}\nnot json\n', "line 2: not JSON"),
        ("a.csv", "text,intent\nhi,x\n", "no column label"),
        ("a.jsonl", '{"text": "hi", "label": "weather"}\n', "label 'weather' is not one of"),
        ("a.yaml", "intents: [a, b]\n", "needs a mapping 'intents'"),
        ("a.yaml", "intents:\n  x: ['(a|b']\n", "intent 'x': template"),
        # another project's layout trained every intent on the word "data" and exited 0
        (
            "a.yaml",
            "intents:\n  x:\n    data:\n      - hi\n",
            "line 3: intent 'x' must be a list of templates .*, got a mapping",
        ),
        ("a.yaml", "intents:\n  x: merhaba\n", "line 2: intent 'x' must be a list .* got one"),
        ("a.yaml", "intents:\n  y: [hi]\n  x: []\n", "line 3: intent 'x' has no templates"),
        ("a.yaml", "intents:\n  x:\n", "intent 'x' has no templates"),
        ("a.yaml", "intents:\n  x:\n    - [a, b]\n", "line 3: intent 'x': a template must be"),
        ("a.txt", "hi", "must be .jsonl, .csv or .yaml"),
        ("a.jsonl", "\n", "no examples"),
    ],
)
def test_bad_files_are_refused_with_the_place_and_the_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        load_examples(path, labels=INTENTS)


def test_excels_byte_order_mark_is_read_and_other_encodings_are_one_line(tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM (it read as a column '\\ufefftext'); a Latin-1
    file or a binary one ended in "internal error: UnicodeDecodeError"."""
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbftext,label\nmerhaba,general_chat\n")
    assert load_examples(bom) == [Example("merhaba", "general_chat")]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\nmerhaba,general_chat\nçay,general_chat\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin.csv, line 3: not UTF-8 text \(byte 0xE7\)"):
        load_examples(latin)
    binary = tmp_path / "model.jsonl"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(DataFormatError, match="a binary file, not text"):
        load_examples(binary)


def test_a_missing_file_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="not found"):
        load_examples(tmp_path / "nope.jsonl")


def test_yaml_templates_expand_and_are_sampled_per_template(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("lists:\n  n: [a, b, c, d]\nintents:\n  x: ['{n} (1|2)']\n  y: [hello]\n")
    assert len(load_examples(path)) == 9
    sampled = load_examples(path, per_template=3, seed=1)
    assert Counter(e.label for e in sampled) == {"x": 3, "y": 1}
    assert sampled == load_examples(path, per_template=3, seed=1)


def test_the_shipped_data_has_a_few_hundred_sentences_per_intent_in_both_languages():
    examples = load_examples(SHIPPED_DATA, labels=INTENTS, per_template=PER_TEMPLATE)
    counts = Counter(e.label for e in examples)
    assert set(counts) == set(INTENTS) and min(counts.values()) >= 300
    turkish = Counter(e.label for e in examples if set(e.text) & set("çğıöşüÇĞİÖŞÜ"))
    assert min(turkish[label] for label in INTENTS) >= 50
