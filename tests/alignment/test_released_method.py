"""`@released`: DPO-BMC trained on the authors' released bridged pairs."""

import pytest

from bmc.alignment.methods import get_method, pairs_variant, uses_bridged_data


def test_released_is_a_source_of_bridged_pairs():
    method = get_method("DPO-BMC@released")
    assert (method.strategy, method.editor, method.loss, method.bmc_weights) == (
        "released",
        None,
        "dpo",
        True,
    )
    assert pairs_variant(method, "targeted") == "released" and uses_bridged_data("DPO-BC@released")
    with pytest.raises(ValueError, match="come with their own editor"):
        get_method("DPO-BMC@released+gpt4")
    with pytest.raises(ValueError, match="DPO trains on the original pairs"):
        get_method("DPO@released")
    with pytest.raises(ValueError, match=r"expected one of .*'released'"):
        get_method("DPO-BMC@releasd")
