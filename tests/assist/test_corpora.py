"""The experts' corpora on the real files of ../shared/data: loaders, splits, no leaks."""

import ast
import json
import random
import re

import pytest

from azuraforge.assist.corpora import (
    MBPP_SPLITS,
    CodeProblem,
    Instruction,
    as_instruction,
    load_code_alpaca,
    load_humaneval,
    load_mbpp,
    load_turkish_instructions,
    parse_quietly,
    problem_prompt,
    python_expert_split,
    split_held_out,
)
from azuraforge.errors import DataFormatError, InvalidParameterError


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9ğüşıöç]+", text.lower()))


def docstring(problem: CodeProblem) -> str:
    tree = parse_quietly(problem.prompt)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    entry = next(f for f in functions if f.name == problem.entry_point)
    return ast.get_docstring(entry) or ""


def tokens(code: str) -> str:
    return " ".join(re.findall(r"\w+|[^\w\s]", code.lower()))


@pytest.fixture(scope="module")
def mbpp(real_data):
    return load_mbpp()


@pytest.fixture(scope="module")
def humaneval(real_data):
    return load_humaneval()


@pytest.fixture(scope="module")
def split(real_data):
    return python_expert_split()


@pytest.fixture(scope="module")
def turkish(real_data):
    return load_turkish_instructions()


def test_mbpp_has_974_problems_in_its_standard_split(mbpp):
    assert [p.task_id for p in mbpp] == [f"MBPP/{n}" for n in range(1, 975)]
    sizes = {name: len(load_mbpp(name)) for name in MBPP_SPLITS}
    assert sizes == {"prompt": 10, "test": 500, "validation": 90, "train": 374}
    test = load_mbpp("test")
    assert (test[0].task_id, test[-1].task_id) == ("MBPP/11", "MBPP/510")
    assert load_mbpp("train")[0].task_id == "MBPP/601"


def test_mbpp_problems_have_unix_lines_and_an_entry_point_the_tests_call(mbpp):
    for p in mbpp:
        text = "".join([p.prompt, p.setup, p.reference, *p.tests])
        assert "\r" not in text, p.task_id
        assert len(p.tests) == 3 and re.search(rf"\b{p.entry_point}\s*\(", p.tests[0])
        assert re.search(rf"^def {p.entry_point}\s*\(", p.reference, flags=re.M)
    assert [p.task_id for p in mbpp if p.setup] == ["MBPP/367", "MBPP/927"]
    first = mbpp[10]
    assert first.prompt.startswith("Write a python function to remove first and last")
    assert first.entry_point == "remove_Occ"
    assert first.tests[0] == 'assert remove_Occ("hello","l") == "heo"'


def test_humaneval_has_164_problems_whose_reference_completes_the_prompt(humaneval):
    assert [p.task_id for p in humaneval] == [f"HumanEval/{n}" for n in range(164)]
    for p in humaneval:
        assert p.reference.startswith(p.prompt) and len(p.reference) > len(p.prompt)
        assert "def check(candidate)" in p.tests[0]
        assert p.tests[1] == f"check({p.entry_point})" and not p.setup
    assert humaneval[0].entry_point == "has_close_elements"


def test_instruction_files_load_whole(real_data):
    alpaca = load_code_alpaca()
    turkish = load_turkish_instructions()
    assert (len(alpaca), len(turkish)) == (2017, 574)
    assert alpaca[0] == Instruction(
        "What are the distinct values from the given list?",
        "dataList = [3, 9, 3, 5, 7, 9, 5]",
        "The distinct values from the given list are 3, 5, 7 and 9.",
    )
    assert turkish[0].instruction == "Borsada düşüş ne anlama gelir?"  # finance comes first
    assert all(e.instruction and e.output for e in turkish)
    assert [n for n, e in enumerate(alpaca) if not e.output] == [237, 1859]


def test_prompts_show_mbpp_the_first_test_and_humaneval_its_code(mbpp, humaneval):
    prompt = problem_prompt(mbpp[10])
    assert prompt.startswith("You are an expert Python programmer, and here is your task: ")
    assert prompt.endswith("Your code should pass this test:\n\n" + mbpp[10].tests[0])
    assert mbpp[10].tests[1] not in prompt
    assert problem_prompt(humaneval[3]) == humaneval[3].prompt
    assert as_instruction(mbpp[700]) == Instruction(
        problem_prompt(mbpp[700]), "", mbpp[700].reference
    )


def test_python_expert_split_never_trains_on_a_held_out_problem(split):
    held_ids = [p.task_id for p in split.held_out]
    assert held_ids == [f"MBPP/{n}" for n in range(11, 511)] + [
        f"HumanEval/{n}" for n in range(164)
    ]
    train_ids = {p.task_id for p in split.train_problems}
    validation_ids = {p.task_id for p in split.validation}
    assert train_ids <= {f"MBPP/{n}" for n in MBPP_SPLITS["train"]}
    assert validation_ids == {f"MBPP/{n}" for n in MBPP_SPLITS["validation"]}
    assert not (train_ids & set(held_ids) or validation_ids & set(held_ids))
    assert not train_ids & validation_ids

    held_statements = {words(p.prompt) for p in split.held_out} | {
        words(docstring(p)) for p in split.held_out if p.task_id.startswith("HumanEval")
    }
    held_code = {tokens(p.reference) for p in split.held_out}
    examples = split.training_examples()
    assert len(examples) == len(split.train_problems) + len(split.instructions)
    for p in split.train_problems:
        assert words(p.prompt) not in held_statements and tokens(p.reference) not in held_code
    for e in split.instructions:
        assert words(e.instruction) not in held_statements
        assert tokens(e.output) not in held_code


def test_the_split_drops_what_mbpp_repeats_from_its_test_split(split):
    assert split.dropped == (
        "MBPP/602 repeats MBPP/217",
        "MBPP/608 repeats MBPP/67",
        "MBPP/704 repeats MBPP/248",
        "MBPP/841 repeats MBPP/296",
        "MBPP/872 repeats MBPP/216",
        "Code Alpaca #237 has no answer",
        "Code Alpaca #1859 has no answer",
    )
    assert (len(split.train_problems), len(split.instructions)) == (369, 2015)


def test_turkish_held_out_split_is_seeded_stable_and_disjoint(turkish):
    train, held = split_held_out(turkish, 0.1, seed=0)
    assert len(train) + len(held) == 574 and 0.05 < len(held) / 574 < 0.15
    assert {words(e.instruction) for e in train}.isdisjoint(words(e.instruction) for e in held)
    assert {words(e.output) for e in train}.isdisjoint(words(e.output) for e in held)

    shuffled = list(turkish)
    random.Random(1).shuffle(shuffled)
    assert set(split_held_out(shuffled, 0.1, seed=0)[1]) == set(held)
    grown = [*turkish, *(Instruction(f"yeni soru {i}", "", f"yeni cevap {i}") for i in range(50))]
    assert set(held) <= set(split_held_out(grown, 0.1, seed=0)[1])
    assert set(split_held_out(turkish, 0.1, seed=1)[1]) != set(held)
    assert split_held_out(turkish, 0.0)[1] == [] and split_held_out(turkish, 1.0)[0] == []


def test_examples_sharing_an_output_stay_together():
    same = [Instruction(f"soru {i}", "", "aynı cevap") for i in range(40)]
    _, held = split_held_out(same, 0.5)
    assert len(held) in (0, 40)


def test_a_fraction_outside_0_1_and_an_unknown_split_are_refused():
    with pytest.raises(InvalidParameterError, match="fraction must be in"):
        split_held_out([], 1.5)
    with pytest.raises(InvalidParameterError, match="no MBPP split 'dev'"):
        load_mbpp("dev")


def test_malformed_files_raise_data_format_error(tmp_path):
    bad_json = tmp_path / "mbpp.jsonl"
    bad_json.write_text("\n{not json\n")
    with pytest.raises(DataFormatError, match="line 2: not JSON"):
        load_mbpp(path=bad_json)
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"task_id": 1, "text": "x"}) + "\n")
    with pytest.raises(DataFormatError, match=r"line 1: expected an object with task_id"):
        load_mbpp(path=missing)
    no_call = tmp_path / "no_call.jsonl"
    row = {"task_id": 1, "text": "x", "code": "def f(): pass", "test_setup_code": ""}
    no_call.write_text(json.dumps({**row, "test_list": ["assert g() == 1"]}) + "\n")
    with pytest.raises(DataFormatError, match="no function of the code is called"):
        load_mbpp(path=no_call)
    not_list = tmp_path / "alpaca.json"
    not_list.write_text('{"instruction": "x"}')
    with pytest.raises(DataFormatError, match="expected a JSON list"):
        load_code_alpaca(path=not_list)
    not_example = tmp_path / "turkish.json"
    not_example.write_text('[{"instruction": "x", "output": "y"}]')
    with pytest.raises(DataFormatError, match="item 0: expected an object with instruction"):
        load_turkish_instructions(paths=[not_example])


def test_a_problem_is_a_plain_frozen_record():
    problem = CodeProblem("MBPP/1", "p", ("assert True",), "", "f", "def f(): pass")
    with pytest.raises(AttributeError):
        problem.prompt = "q"  # type: ignore[misc]
