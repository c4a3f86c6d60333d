"""The method registry: names, data choice, objective and weights."""

import subprocess
import sys

import pytest

from bmc.alignment.methods import LOSSES, METHODS, get_method, uses_bridged_data


def test_the_four_dpo_cells_of_table_1():
    cells = {
        name: (get_method(name).data, get_method(name).bmc_weights)
        for name in ("DPO", "DPO-BC", "DPO-MC", "DPO-BMC")
    }
    assert cells == {
        "DPO": ("original", False),
        "DPO-BC": ("bridged", False),
        "DPO-MC": ("original", True),
        "DPO-BMC": ("bridged", True),
    }
    assert {get_method(n).loss for n in cells} == {"dpo"}


@pytest.mark.parametrize(
    "base,loss", [("IPO", "ipo"), ("SimPO", "simpo"), ("R-DPO", "rdpo"), ("ORPO", "orpo")]
)
def test_table_5_variants(base, loss):
    plain, bmc = get_method(base), get_method(f"{base}-BMC")
    assert (plain.loss, plain.data, plain.bmc_weights) == (loss, "original", False)
    assert (bmc.loss, bmc.data, bmc.bmc_weights) == (loss, "bridged", True)
    assert uses_bridged_data(f"{base}-BMC") and not uses_bridged_data(base)


def test_reference_use_and_masks():
    assert get_method("DPO-BMC").needs_reference and get_method("IPO").needs_reference
    assert not any(get_method(n).needs_reference for n in ("SimPO", "ORPO-BMC", "FIGA"))
    assert get_method("FIGA").needs_masks and not get_method("DPO-BC").needs_masks
    tdpo = get_method("TDPO")
    assert (
        tdpo.needs_reference and tdpo.needs_distributions and (tdpo.loss, tdpo.data) == ("tdpo", "original")
    )
    assert not any(get_method(n).needs_distributions for n in METHODS if n != "TDPO")


def test_registry_is_consistent():
    for name, method in METHODS.items():
        assert method.name == name and method.loss in LOSSES and method.data in ("original", "bridged")


def test_unknown_method_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown method 'dpo'; valid methods: .*DPO-BMC"):
        get_method("dpo")
    with pytest.raises(ValueError, match="unknown method"):
        uses_bridged_data("TDPO-BMC")


def test_importing_the_registry_loads_no_heavy_module():
    code = "import sys, bmc.alignment.methods; print(sorted({'torch', 'transformers', 'trl'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_run_name_trains_its_registered_method():
    """`DPO-BMC@inverse` and `DPO-BMC@targeted+<editor>` train DPO-BMC (the grammar: tests/test_plan.py)."""
    for name in ("DPO-BMC@inverse", "DPO-BMC@targeted+Llama-3-70B-Instruct", "DPO-BMC@released"):
        method = get_method(name)
        assert (method.name, method.data, method.loss, method.bmc_weights) == (name, "bridged", "dpo", True)
    assert uses_bridged_data("DPO-BC@free") and not uses_bridged_data("DPO")
    with pytest.raises(ValueError, match="unknown bridging strategy"):
        get_method("DPO-BMC@rewrite")
    with pytest.raises(ValueError, match="DPO-MC trains on the original pairs"):
        get_method("DPO-MC@inverse")
    with pytest.raises(ValueError, match="unknown method"):
        get_method("XPO@inverse")


# SimPO's published recipes per base model (princeton-nlp/SimPO, training_configs/*-base-simpo.yaml at commit
# 1b3e8f3528a23bce3da514a2dce8ea7490d4bc75: beta, gamma_beta_ratio, learning_rate), γ = gamma_beta_ratio × β
SIMPO_RECIPES = {"llama-3-8b-base": (2.0, 0.5, 6.0e-7), "mistral-7b-base": (2.0, 0.8, 3.0e-7)}


@pytest.mark.parametrize(
    "overlays, task, recipe",
    [
        ([], "if", SIMPO_RECIPES["llama-3-8b-base"]),  # Table 2's Llama-3 block
        (["paper_mistral.yaml"], "if", SIMPO_RECIPES["mistral-7b-base"]),  # its Mistral block
        ([], "qa", (2.0, 0.5, 5.0e-7)),  # Llama-2 (no published recipe): γ/β 0.5, the authors' BMC rate
        ([], "math", (2.0, 0.5, 5.0e-7)),
    ],
)
def test_simpo_and_simpo_bmc_train_with_simpos_recipe_of_their_base(overlays, task, recipe):
    import json
    from pathlib import Path

    from bmc.alignment.training import method_params
    from bmc.config import TrainJob, check, job_settings
    from bmc.plan.cost import merged_config
    from bmc.plan.runs import Plan

    folder = Path(__file__).resolve().parents[2] / "workflow" / "config"
    config = merged_config([str(folder / f) for f in ["paper.yaml", *overlays]])
    settings = job_settings(
        TrainJob, json.dumps(Plan(check(config), config).task_settings("train", task)), "train"
    )
    beta, ratio, lr = recipe
    for method in ("SimPO", "SimPO-BMC"):
        given = method_params(settings, method)
        assert (given["beta"], given["gamma"], given["learning_rate"]) == pytest.approx(
            (beta, ratio * beta, lr)
        )
        assert given.get("simpo_bmc_bound", "delta") == "delta"
    assert method_params(settings, "DPO") == {}
