from pathlib import Path

import pytest

from bmc.bridging.prompts import STRATEGIES, load_template, placeholders, template_path

from .conftest import PAIR

REPO = Path(__file__).resolve().parents[2]


ANSWER_LINES = {"qa": '"The answer is <answer>"', "math": '"The answer is: $<answer>$."', "if": None}


@pytest.mark.parametrize("task", sorted(ANSWER_LINES))
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_renders_one_user_turn_with_its_inputs(strategy, task):
    template = load_template(strategy, task=task)
    (message,) = template.render(PAIR)
    assert message["role"] == "user" and "Where do fish live?" in message["content"]
    assert (PAIR["chosen"] in message["content"]) == ("chosen" in STRATEGIES[strategy][1])
    assert (PAIR["rejected"] in message["content"]) == ("rejected" in STRATEGIES[strategy][1])
    if ANSWER_LINES[task]:
        assert ANSWER_LINES[task] in message["content"]
    else:  # instruction following: no answer line to ask for
        assert "final line" not in message["content"]
    assert len(template.sha256) == 64 and template.name == f"{task}/{strategy}_v1"
    assert template_path(strategy, task=task) == f"bmc/bridging/templates/{task}/{strategy}_v1.txt"
    assert (REPO / template_path(strategy, task=task)).read_text() == template.text


def test_targeted_no_ref_never_shows_the_winner_and_inverse_replaces_the_loser():
    assert PAIR["chosen"] not in load_template("targeted_no_ref").render(PAIR)[0]["content"]
    assert load_template("inverse").replaces == "rejected"
    assert load_template("targeted").replaces == "chosen"


def test_braces_in_the_pair_are_kept_verbatim():
    pair = {**PAIR, "rejected": "Let {x} = {0}.\nThe answer is desert"}
    assert "Let {x} = {0}." in load_template("targeted").render(pair)[0]["content"]


def test_bad_strategy_version_or_pair_fail_clearly():
    with pytest.raises(ValueError, match="unknown bridging strategy"):
        load_template("rewrite")
    with pytest.raises(FileNotFoundError, match="targeted_v99"):
        load_template("targeted", "v99")
    with pytest.raises(ValueError, match="no user turn"):
        load_template("targeted").render({**PAIR, "prompt": [{"role": "system", "content": "x"}]})


def test_placeholders():
    assert placeholders("Q: {question}\n{chosen} {{literal}}") == {"question", "chosen"}
