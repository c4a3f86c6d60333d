import pytest

from bmc.bridging import validate as v
from bmc.bridging.validate import check_edit

from .conftest import PAIR


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
