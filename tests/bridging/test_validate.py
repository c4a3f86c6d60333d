import pytest

from bmc.bridging import validate as v
from bmc.bridging.prompts import STRATEGIES, load_template
from bmc.bridging.validate import check_edit

from .conftest import GOOD_EDIT, PAIR


@pytest.mark.parametrize(
    "text, replaces, reason",
    [
        ("Fish like water.\nThe answer is water", "chosen", None),
        ("Fish like water.\nThe answer is: Water.", "chosen", None),
        ("Fish like water.\nThe answer is desert", "chosen", v.WRONG),
        ("Fish like water.", "chosen", v.NO_CUE),
        ("The answer is water\n\nDraft answer: fish like sand", "chosen", v.TRAILING),
        ("   \n", "chosen", v.EMPTY),
        ("", "chosen", v.EMPTY),
        (PAIR["rejected"] + "\n", "chosen", v.SAME_AS_LOSER),
        (PAIR["chosen"], "chosen", v.SAME_AS_WINNER),
        ("Fish like sand.\nThe answer is desert", "rejected", None),
        ("Fish need water.\nThe answer is water", "rejected", v.STILL_CORRECT),
        (PAIR["chosen"], "rejected", v.SAME_AS_WINNER),
        ("Fish need sand.", "rejected", v.NO_CUE),
    ],
)
def test_check_edit(text, replaces, reason):
    assert check_edit(text, PAIR, replaces) == reason


def test_pairs_without_an_answer_get_the_generic_checks_only():
    pair = {k: val for k, val in PAIR.items() if k != "answer"}
    assert check_edit("A better reply, no answer line.", pair, "chosen") is None
    assert check_edit(pair["rejected"], pair, "chosen") == v.SAME_AS_LOSER
    with pytest.raises(ValueError, match="replaces"):
        check_edit("x", pair, "prompt")


# a valid output per task and side it replaces, and the pair it is checked against
VALID = {
    ("qa", "chosen"): "Fish live in water.\nThe answer is water",
    ("qa", "rejected"): "Fish live in sand.\nThe answer is desert",
    ("math", "chosen"): "2 + 2 = 4.\nThe answer is: $4$.",
    ("math", "rejected"): "2 + 2 = 5.\nThe answer is: $5$.",
    ("if", "chosen"): "A fine reply.",
    ("if", "rejected"): "A poor reply.",
}
ANSWERS = {"qa": "water", "math": "4", "if": None}


@pytest.mark.parametrize("task", ["qa", "math", "if"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_an_output_echoing_the_editing_prompt_is_refused(task, strategy):
    template = load_template(strategy, "v1", task)
    pair = {**PAIR, "task": task, "answer": ANSWERS[task]}
    valid = VALID[task, template.replaces]
    assert check_edit(valid, pair, template.replaces, template.instruction_lines) is None
    # the instructions' last line and a section header (e.g. "Draft answer:") both count as an echo,
    # also where the final answer line still comes last
    for line in template.instruction_lines[-2:]:
        echo = f"{valid}\n\n{line}\n{valid}"
        assert check_edit(echo, pair, template.replaces, template.instruction_lines) == v.ECHO
    assert all("{" not in line and len(line) >= 12 for line in template.instruction_lines)


@pytest.mark.parametrize(
    "source, edit, share",
    [
        ("a b c d", "a b x d", 3 / 4),  # one word replaced
        ("a b c d", "d c b a", 1 / 4),  # reversed: one word in order
        ("a b c d", "a b c d e f", 1.0),  # words added keep every source word
        ("", "anything", 1.0),
        (PAIR["rejected"], GOOD_EDIT, 10 / 12),  # "sand." and "desert" replaced, 10 of 12 words kept
        (PAIR["rejected"], "The answer is water", 3 / 12),  # the bare final line
    ],
)
def test_kept_share_counts_the_source_words_kept_in_order(source, edit, share):
    assert v.kept_share(source, edit) == pytest.approx(share)


def test_check_kept_refuses_an_edit_below_the_minimum_only_when_one_is_set():
    assert v.check_kept("The answer is water", PAIR["rejected"], None) is None
    assert v.check_kept("The answer is water", PAIR["rejected"], 0.5) == v.TOO_LITTLE_KEPT
    assert v.check_kept(GOOD_EDIT, PAIR["rejected"], 10 / 12) is None


def test_the_strategies_that_edit_a_response_name_it():
    assert {s: load_template(s).edits for s in STRATEGIES} == {
        "targeted": "rejected",
        "targeted_no_ref": "rejected",
        "inverse": "chosen",
        "free": None,
    }


@pytest.mark.parametrize(
    "length, tokens, finish, reason",
    [
        (64 * 16, 0, None, None),  # at the character bound
        (64 * 16 + 1, 0, None, v.TOO_LONG),  # one character beyond
        (12_449, 5, None, v.TOO_LONG),  # a server that ignored max_tokens and claims a short reply
        (100, 96, None, None),  # re-tokenizing may count a few more than were generated
        (100, 97, None, v.TOO_LONG),  # more tokens than 1.5 x the limit, as the editor counts them
        (100, 0, "length", v.CUT),
        (0, 0, "content_filter", v.FILTERED),
    ],
)
def test_check_length(length, tokens, finish, reason):
    assert v.check_length("x" * length, 64, tokens, finish) == reason
    assert v.check_length("x" * length, None, tokens) is None  # no limit known: no bound
