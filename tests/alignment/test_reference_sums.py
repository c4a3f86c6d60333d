"""The reference sums of the `reference_sums` rule equal those each training job computes itself, for every
method that reads them; a job reading them trains as one that computes them; a file made from other inputs is
refused, naming what differs."""

import argparse
import json

import pytest

from bmc.alignment import reference
from bmc.alignment.training import build_trainer, load_pairs
from bmc.config import TrainJob, job_settings
from bmc.io import InputError
from bmc.models.prepare import load_tokenizer
from bmc.stages import reference_sums, train

from .test_trainer import PAIRS, pair, write_pairs

SETTINGS = {"beta": 0.1, "delta": 3.0, "learning_rate": 1e-3, "max_steps": 1, "max_length": 128}
SETTINGS |= {"per_device_train_batch_size": 2, "max_prompt_length": 64, "seed": 0}
GROUPS = {"bmc": ("DPO-BMC", "IPO-BMC", "R-DPO-BMC", "DPO-MC"), "plain": ("DPO", "IPO", "R-DPO", "DPO-BC")}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_pairs(
        tmp_path_factory.mktemp("pairs") / "pairs.jsonl",
        [pair(i, q, c, r) for i, (q, c, r) in enumerate(PAIRS)],
    )


def shared_sums(model, pairs, out, method, settings=SETTINGS):
    """Run the `reference_sums` stage as the rule does for the runs of `method`; its file's content."""
    params = reference.reference_settings(method, reference.job_settings_of(settings, method))
    args = dict(model=str(model), pairs=pairs, out=str(out), params=json.dumps(params))
    reference_sums.run(argparse.Namespace(**args, world_size=None))
    return json.loads(out.read_text())


def own_sums(model, pairs, method, tmp_path):
    """The sums a training job of `method` computes before training (precompute_ref_logps)."""
    settings = job_settings(TrainJob, json.dumps(SETTINGS), "train")
    rows, _ = load_pairs(
        pairs, load_tokenizer(model), settings.max_prompt_length, "paper", settings.max_length
    )
    trainer, _ = build_trainer(method, 0, str(model), None, rows, settings, tmp_path / method)
    return list(trainer.train_dataset["ref_chosen_logps"]), list(trainer.train_dataset["ref_rejected_logps"])


@pytest.mark.parametrize("weighting", sorted(GROUPS))
def test_shared_sums_equal_each_jobs_own(tiny_model_dir, pairs, tmp_path, weighting):
    methods = GROUPS[weighting]
    shared = shared_sums(tiny_model_dir, pairs, tmp_path / "sums.json", methods[0])
    assert shared["rows"] == len(PAIRS) and shared["inputs"]["settings"]["bmc_weights"] == (
        weighting == "bmc"
    )
    for method in methods:
        assert reference.weighting(method, SETTINGS) == weighting
        assert own_sums(tiny_model_dir, pairs, method, tmp_path) == (shared["chosen"], shared["rejected"]), (
            method
        )
    if weighting == "bmc":  # the weights are active: BMC's sums are not the plain ones
        plain = own_sums(tiny_model_dir, pairs, "DPO", tmp_path)
        assert plain[0] != shared["chosen"]


def train_run(model, pairs, out, method, seed, ref_sums=None, settings=SETTINGS):
    args = dict(method=method, seed=seed, model=str(model), ref=None, pairs=pairs, out=str(out))
    train.run(argparse.Namespace(**args, params=json.dumps(settings), ref_sums=ref_sums, world_size=None))
    return json.loads((out / "train_summary.json").read_text())


def test_a_run_reading_the_sums_trains_as_one_computing_them(tiny_model_dir, pairs, tmp_path):
    sums = tmp_path / "sums.json"
    shared_sums(tiny_model_dir, pairs, sums, "IPO-BMC")
    for seed in (0, 1):
        given = train_run(tiny_model_dir, pairs, tmp_path / f"given{seed}", "IPO-BMC", seed, str(sums))
        own = train_run(tiny_model_dir, pairs, tmp_path / f"own{seed}", "IPO-BMC", seed)
        assert given["reference_sums"] == str(sums) and own["reference_sums"] is None
        assert given["train_loss"] == own["train_loss"] and given["final_loss"] == own["final_loss"]


def test_sums_from_other_inputs_are_refused(tiny_model_dir, pairs, tmp_path):
    sums = tmp_path / "sums.json"
    shared_sums(tiny_model_dir, pairs, sums, "DPO-BMC")
    with pytest.raises(
        InputError, match=r"other inputs than this job's \(file -> job\): settings\.delta: 3\.0 -> 2\.0"
    ):
        train_run(tiny_model_dir, pairs, tmp_path / "m", "DPO-BMC", 0, str(sums), {**SETTINGS, "delta": 2.0})
    with pytest.raises(InputError, match="settings.bmc_weights: true -> false"):
        train_run(tiny_model_dir, pairs, tmp_path / "m", "DPO-BC", 0, str(sums))
    other = write_pairs(tmp_path / "other.jsonl", [pair(i, q, c, r) for i, (q, c, r) in enumerate(PAIRS[:2])])
    with pytest.raises(InputError, match="pairs_sha256"):
        train_run(tiny_model_dir, other, tmp_path / "m", "DPO-BMC", 0, str(sums))
    record = json.loads(sums.read_text())
    sums.write_text(json.dumps({**record, "tokens_sha256": "0" * 64}))
    with pytest.raises(InputError, match="tokenised its pairs differently"):
        train_run(tiny_model_dir, pairs, tmp_path / "m", "DPO-BMC", 0, str(sums))
    with pytest.raises(ValueError, match="TDPO with these settings reads no precomputed reference sums"):
        train_run(tiny_model_dir, pairs, tmp_path / "m", "TDPO", 0, str(sums))


def test_what_the_sums_depend_on():
    """Optimisation settings never split the sums; δ, the diff algorithm and the stop words only under BMC
    weights; a setting unknown to the list counts."""
    base = reference.reference_settings("DPO-BMC", SETTINGS)
    assert base == reference.reference_settings(
        "IPO-BMC", {**SETTINGS, "beta": 0.5, "learning_rate": 1.0, "seed": 3}
    )
    assert base != reference.reference_settings("DPO-BMC", {**SETTINGS, "delta": 2.0})
    plain = reference.reference_settings("DPO", SETTINGS)
    assert plain == reference.reference_settings(
        "DPO-BC", {**SETTINGS, "delta": 2.0, "diff_algorithm": "levenshtein"}
    )
    assert plain != reference.reference_settings("DPO", {**SETTINGS, "bf16": True})
    assert plain != reference.reference_settings("DPO", {**SETTINGS, "some_new_trl_option": 1})
    assert reference.reference_settings("DPO", {**SETTINGS, "bmc_weights": True}) == base
    assert not reference.uses_shared_sums("TDPO", SETTINGS) and not reference.uses_shared_sums(
        "SimPO", SETTINGS
    )
    assert not reference.uses_shared_sums("DPO", {**SETTINGS, "precompute_ref_logps": False})
