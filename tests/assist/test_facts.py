"""Questions about the project's own data in the library: what a question asks, and the
assistant's hook that answers it from records instead of a model (issue 63, point 9)."""

from __future__ import annotations

import pytest

from azuraforge.assist.backends.echo import EchoBackend
from azuraforge.assist.embeddings import CharNgrams
from azuraforge.assist.facts import Facts, Question, asks_project, read_question
from azuraforge.assist.orchestrator import Assistant
from azuraforge.assist.routing import Route, train_shipped_router


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("Which training run ended with the smallest RMSE?", ("en", "runs", "lowest", "rmse")),
        ("MAE'si en iyi olan koşum hangisi?", ("tr", "runs", "best", "mae")),
        ("How many jobs have failed so far?", ("en", "runs", "count", None)),
        ("Is experiment #21 still running?", ("en", "runs", "status", None)),
        ("sales.csv kaç sütundan oluşuyor?", ("tr", "data", "columns", None)),
        ("How many lines are in my traffic data?", ("en", "data", "rows", None)),
        ("Which alias does the champion version of btc-model have?", ("en", "models", "champion",
                                                                      None)),
        ("Akışlarımın son skorları nedir?", ("tr", "streams", "score", None)),
        ("Which laptop should I buy?", ("en", None, "list", None)),
    ],
)  # fmt: skip
def test_a_question_is_read_for_its_subject_ask_and_metric(text, read):
    question = read_question(text)
    assert (question.language, question.subject, question.ask, question.metric) == read


def test_an_id_is_read_but_not_a_digit_of_a_name():
    assert read_question("What is the R2 of run 21?").number == 21
    assert read_question("21 numaralı deneyin R2 değeri?").number == 21
    assert read_question("Which run has the best R2 on pm2.5?").number is None


def test_a_name_before_dataset_or_model_is_read_unless_a_determiner():
    assert read_question("How many rows does my sales dataset have?").name == "sales"
    assert read_question("weather veri setimde kaç satır var?").name == "weather"
    assert read_question("List my registered models").name is None


class Rows:
    """A project of one failed run, as the platform's answerer would read it."""

    def __init__(self) -> None:
        self.asked: list[Question] = []

    def answer(self, question: Question) -> Facts:
        self.asked.append(question)
        return Facts("Run 3 (weather-gru) is failed.")


@pytest.fixture(scope="module")
def router():
    return train_shipped_router(CharNgrams())


def test_the_assistant_answers_a_project_question_from_its_hook_not_the_model(router):
    rows = Rows()
    assistant = Assistant(router, EchoBackend(), facts=rows)
    said = "".join(assistant.reply("How many of my runs have failed?"))
    assert said == "Run 3 (weather-gru) is failed." and rows.asked[0].state == "failed"
    assert assistant.last is not None
    assert (assistant.last.intent, assistant.last.expert, assistant.last.backend) == (
        "project_data", "project", "project",
    )  # fmt: skip
    assistant.switch("python")  # an expert asked by name answers, as before
    assert "".join(assistant.reply("How many of my runs have failed?")).startswith("echo:")


def test_without_a_hook_the_assistant_says_it_cannot_see_the_project(router):
    said = "".join(Assistant(router, EchoBackend()).reply("Kaç koşum başarısız oldu?"))
    assert said.startswith("Bunu bu projede göremiyorum") and "echo" not in said


def test_a_router_slip_to_project_data_without_a_project_word_goes_to_the_model():
    assert not asks_project(Route("project_data", 0.8, "model"), "Which laptop should I buy?")
    unsure = Route("general_chat", 0.45, "fallback", candidate="project_data")
    assert asks_project(unsure, "how many streams are running?")
    assert not asks_project(Route("general_chat", 0.9, "model"), "how many streams are running?")
