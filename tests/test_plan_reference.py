"""Which reference sums each run of the paper's plan reads (rule `reference_sums`): one file per (pairs,
weighting), shared by seeds and by the methods with the same weighting; none for the runs that compute none."""

import copy

from bmc.alignment.methods import METHODS

from .test_plan import plan_of, shipped


def sums_of(plan, task):
    return {m: plan.reference_sums(task, m) for m in plan.task_methods(task)}


def test_paper_runs_share_their_reference_sums():
    plan = shipped("paper.yaml")
    assert sorted(plan.task_methods("qa")) == sorted(METHODS)
    root, strategy = f"{plan.results}/reference/qa", plan.strategy
    assert sums_of(plan, "qa") == {
        **dict.fromkeys(["DPO", "IPO", "R-DPO"], f"{root}/original/plain.json"),
        "DPO-MC": f"{root}/original/bmc.json",
        **dict.fromkeys(["DPO-BMC", "IPO-BMC", "R-DPO-BMC"], f"{root}/{strategy}/bmc.json"),
        "DPO-BC": f"{root}/{strategy}/plain.json",
        **dict.fromkeys(["TDPO", "SimPO", "SimPO-BMC", "ORPO", "ORPO-BMC", "FIGA"], None),
    }
    params = plan.reference_params("qa", strategy, "bmc")
    assert params["bmc_weights"] is True and params["delta"] == plan.config["train"]["delta"]
    assert "learning_rate" not in params and "beta" not in params and "seed" not in params
    assert "delta" not in plan.reference_params("qa", "original", "plain")
    assert plan.reference_sums("qa", "DPO-BMC@released").endswith("/qa/released/bmc.json")


def test_method_params_that_change_the_sums_give_a_method_its_own():
    config = copy.deepcopy(shipped("paper.yaml").config)
    config["train"]["method_params"]["IPO-BMC"] = {"delta": 2.0}
    config["train"]["method_params"]["R-DPO-BMC"] = {"beta": 0.5}  # optimisation only: still shared
    plan = plan_of(config)
    root = f"{plan.results}/reference/qa/{plan.strategy}"
    assert plan.reference_sums("qa", "IPO-BMC") == f"{root}/bmc-IPO-BMC.json"
    assert (
        plan.reference_sums("qa", "R-DPO-BMC") == plan.reference_sums("qa", "DPO-BMC") == f"{root}/bmc.json"
    )
    assert plan.reference_params("qa", plan.strategy, "bmc-IPO-BMC")["delta"] == 2.0


def test_without_precomputed_reference_no_run_reads_sums():
    config = copy.deepcopy(shipped("paper.yaml").config)
    config["train"]["precompute_ref_logps"] = False
    plan = plan_of(config)
    assert set(sums_of(plan, "qa").values()) == {None}
