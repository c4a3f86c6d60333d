import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmc.alignment.masks import diff_masks


@pytest.mark.parametrize("algorithm", ["difflib", "levenshtein"])
def test_hand_checked_edits(algorithm):
    # rejected: 1 2 3 4 5 ; chosen: 1 9 3 4 5 7  -> replace 2->9, insert 7
    chosen, rejected = diff_masks([1, 9, 3, 4, 5, 7], [1, 2, 3, 4, 5], set(), algorithm)
    assert chosen == [0, 1, 0, 0, 0, 1] and rejected == [0, 1, 0, 0, 0]
    # deletion of 3 from rejected
    chosen, rejected = diff_masks([1, 2, 4], [1, 2, 3, 4], set(), algorithm)
    assert chosen == [0, 0, 0] and rejected == [0, 0, 1, 0]
    assert diff_masks([5, 6, 7], [5, 6, 7], set(), algorithm) == ([0, 0, 0], [0, 0, 0])
    assert diff_masks([], [], set(), algorithm) == ([], [])
    assert diff_masks([1, 2], [], set(), algorithm) == ([1, 1], [])


@pytest.mark.parametrize("algorithm", ["difflib", "levenshtein"])
def test_stop_words_are_never_marked(algorithm):
    chosen, rejected = diff_masks([1, 50, 51, 4], [1, 60, 61, 4], {50, 61}, algorithm)
    assert chosen == [0, 0, 1, 0] and rejected == [0, 1, 0, 0]


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown diff algorithm"):
        diff_masks([1], [2], set(), "myers")


def test_difflib_autojunk_changes_the_alignment_of_long_sequences():
    # 205-token sequences sharing only a run of five 7s. Token 7 makes up > 1% of the chosen sequence, so
    # with autojunk (the released code's default) it cannot anchor a match and the run is marked as varied.
    rejected = list(range(1000, 1100)) + [7] * 5 + list(range(1100, 1200))
    chosen = list(range(2000, 2100)) + [7] * 5 + list(range(2100, 2200))
    with_junk = difflib.SequenceMatcher(None, rejected, chosen).get_opcodes()
    without_junk = difflib.SequenceMatcher(None, rejected, chosen, autojunk=False).get_opcodes()
    assert with_junk != without_junk  # the heuristic matters here

    def marks(opcodes):
        c, r = [0] * len(chosen), [0] * len(rejected)
        for tag, i1, i2, j1, j2 in opcodes:
            if tag in ("replace", "delete"):
                r[i1:i2] = [1] * (i2 - i1)
            if tag in ("replace", "insert"):
                c[j1:j2] = [1] * (j2 - j1)
        return c, r

    chosen_mask, rejected_mask = diff_masks(chosen, rejected, set(), "difflib")
    assert (chosen_mask, rejected_mask) == marks(with_junk) != marks(without_junk)
    assert chosen_mask == [1] * 205 and rejected_mask == [1] * 205  # by hand: nothing can be matched


def edit_distance(a, b):
    """Textbook Levenshtein dynamic programme."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


def alignment_cost(chosen, rejected, cm, rm):
    """Cost of the alignment the masks describe: between consecutive kept (equal) tokens, a gap of a
    marked chosen and b marked rejected tokens costs max(a, b) (substitutions, then insertions/deletions)."""
    cost, a, b = 0, 0, 0
    ci = ri = 0
    while ci < len(chosen) or ri < len(rejected):
        if ci < len(chosen) and cm[ci]:
            a, ci = a + 1, ci + 1
        elif ri < len(rejected) and rm[ri]:
            b, ri = b + 1, ri + 1
        else:  # both at a kept token (or one side exhausted)
            cost, a, b = cost + max(a, b), 0, 0
            ci, ri = ci + 1, ri + 1
    return cost + max(a, b)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=14), st.lists(st.integers(0, 5), max_size=14))
def test_levenshtein_masks_are_a_minimum_alignment(chosen, rejected):
    cm, rm = diff_masks(chosen, rejected, set(), "levenshtein")
    kept_c = [t for t, m in zip(chosen, cm, strict=True) if not m]
    kept_r = [t for t, m in zip(rejected, rm, strict=True) if not m]
    assert kept_c == kept_r  # unmarked tokens are the aligned, equal ones
    assert alignment_cost(chosen, rejected, cm, rm) == edit_distance(rejected, chosen)
