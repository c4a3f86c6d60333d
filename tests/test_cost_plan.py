"""The cost plan (bmc.plan.cost) and the example counts it reads from the data (bmc.data.sizes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bmc.config import StatedSize, check
from bmc.data.sizes import Size, task_sizes
from bmc.plan import cost as cost_plan
from bmc.plan.runs import Plan

REPO = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((REPO / "workflow/config/paper.yaml").read_text())
BLOB = "a" * 40

DRY_RUN = """
rule train:
    output: results/paper/models/if/DPO-BMC/seed0
    wildcards: task=if, method=DPO-BMC, seed=0
    resources: tmpdir=/tmp, gpu=4, runtime=1200, nodes=1

rule train:
    wildcards: task=math, method=DPO, seed=0
    resources: tmpdir=/tmp, gpu=4, runtime=360, nodes=1

localrule bridge:
    output: results/paper/bridged/qa/targeted/pairs.jsonl
    wildcards: task=qa, strategy=targeted

rule judge:
    wildcards: method=DPO, seed=0, dataset=arena_hard

rule bridge_served:
    wildcards: task=qa, strategy=targeted+Llama-3-70B-Instruct
    resources: tmpdir=/tmp, gpu=4, cpus_per_task=16, runtime=720, nodes=1
"""


def layout(root: Path, manifest_rows: dict[str, int | None], if_tests: tuple[int, int] = (3, 2)) -> Path:
    """A workflow folder: the release manifest (dest -> rows, None: no count) and the shipped IF test sets."""
    files = {
        f"src/{d}": {"dest": d, "blob": BLOB} | ({} if n is None else {"rows": n})
        for d, n in manifest_rows.items()
    }
    resources = root / "workflow" / "resources"
    (resources / "data" / "if").mkdir(parents=True)
    (resources / "bmc_release.yaml").write_text(yaml.safe_dump({"commit": BLOB, "files": files}))
    (resources / "data/if/alpaca_eval.json").write_text(json.dumps([{"instruction": "i"}] * if_tests[0]))
    (resources / "data/if/arena_hard.jsonl").write_text('{"question_id": "q"}\n' * if_tests[1])
    return root


MANIFEST = {
    "qa_sft/train-00000-of-00001.parquet": 100,
    "ECQA/train.jsonl": 40,
    "ECQA/test.jsonl": 9,
    "OpenbookQA/train.jsonl": 30,
    "OpenbookQA/test.jsonl": 7,
    "math_sft/train-00000-of-00001.parquet": None,
    "math_dpo_bmc/train-00000-of-00001.parquet": None,
    "math/gsm8k/test.jsonl": 11,
    "LICENSE-bmc-repo": None,
}


def plan_of(release: dict | None = None, **data) -> Plan:
    config = copy.deepcopy(PAPER)
    config["release"] |= release or {}
    config["data"]["qa"]["datasets"] = ["ECQA", "OBQA"]
    config["data"]["math"]["datasets"] = ["gsm8k"]
    for task, given in data.items():
        config["data"][task].update(given)
    return Plan(check(config), config)


def test_sizes_come_from_the_manifest_and_say_so(tmp_path):
    sizes = task_sizes(plan_of(), layout(tmp_path, MANIFEST))
    qa, math, instruct = sizes["qa"], sizes["math"], sizes["if"]
    assert (qa.sft_examples.n, qa.pairs.n, qa.test_examples.n) == (100, 70, 16)
    assert (
        qa.pairs.source == "ECQA/train.jsonl (release manifest) + OpenbookQA/train.jsonl (release manifest)"
    )
    # parquet sets the manifest could not count: unknown, and the reason is given
    assert math.sft_examples.n is None and "not counted until the `release` rule" in math.sft_examples.source
    assert math.pairs.n is None and math.pairs.source.startswith("at most the rows of math_dpo_bmc/")
    assert math.tests["gsm8k"].n == 11
    assert instruct.sft_examples.n == 0 and instruct.tests == {
        "alpaca_eval": instruct.tests["alpaca_eval"],
        "arena_hard": instruct.tests["arena_hard"],
    }
    assert (instruct.tests["alpaca_eval"].n, instruct.tests["arena_hard"].n) == (3, 2)
    assert instruct.pairs.n == 61135 and instruct.pairs.source.startswith("stated, not counted: ")


def test_the_laid_out_release_is_counted_and_subset_sizes_cap_the_counts(tmp_path):
    root = layout(tmp_path, MANIFEST)
    release = root / "resources" / "bmc-release"
    (release / "ECQA").mkdir(parents=True)
    (release / "ECQA/train.jsonl").write_text('{"problem": "p"}\n' * 25)  # the file wins over the manifest
    prompts = [{"prompt": "q", "chosen": "a", "rejected": "b"}] * 6
    (release / "math_dpo_bmc").mkdir()
    pd.DataFrame(prompts).to_parquet(release / "math_dpo_bmc/train-00000-of-00001.parquet")
    sizes = task_sizes(plan_of(qa={"prefs_n": 28}, math={"prefs_n": 4}), root)
    assert sizes["qa"].pairs.n == 25 + 28  # ECQA's 25 counted, OBQA's 30 capped at prefs_n per set
    assert sizes["qa"].pairs.source.startswith(
        "ECQA/train.jsonl (counted in the release folder) + data.qa.prefs_n"
    )
    assert sizes["math"].pairs.n == 4 and "data.math.prefs_n = 4 of 6" in sizes["math"].pairs.source
    # a size that cannot be counted is at most its cap
    capped = task_sizes(plan_of(math={"sft_n": 50}), root)["math"].sft_examples
    assert capped.n == 50 and capped.source.startswith("at most data.math.sft_n = 50")


def test_the_configured_release_folder_and_manifest_are_read(tmp_path):
    root = layout(tmp_path, {})
    manifest = {"files": {"x": {"dest": "ECQA/train.jsonl", "blob": BLOB, "rows": 12}}, "commit": BLOB}
    (root / "m.yaml").write_text(yaml.safe_dump(manifest))
    (root / "rel/OpenbookQA").mkdir(parents=True)
    (root / "rel/OpenbookQA/train.jsonl").write_text("{}\n" * 5)
    plan = plan_of({"folder": "rel", "manifest": "m.yaml"}, qa={"source": "rel"}, math={"source": "rel"})
    sizes = task_sizes(plan, root)["qa"]
    assert sizes.pairs == Size(
        17, "ECQA/train.jsonl (release manifest) + OpenbookQA/train.jsonl (counted in the release folder)"
    )


def test_a_stated_size_is_used_only_where_the_data_cannot_be_counted(tmp_path):
    plan = plan_of()
    stated = StatedSize(n=7, source="a paper's table")
    plan.settings.plan.stated_sizes |= {"math": {"sft_examples": stated}, "qa": {"pairs": stated}}
    sizes = task_sizes(plan, layout(tmp_path, MANIFEST))
    assert sizes["math"].sft_examples == Size(7, "stated, not counted: a paper's table")
    assert sizes["qa"].pairs.n == 70  # counted: the stated size is not used


def test_qa_and_math_sizes_are_counted_from_the_release_only(tmp_path):
    with pytest.raises(
        ValueError, match=r"the sizes of task qa are counted from the release only \(data\.qa\.source\)"
    ):
        task_sizes(plan_of(qa={"source": "workflow/resources/data/qa"}), layout(tmp_path, MANIFEST))


def test_the_estimate_follows_the_counts_and_leaves_unknown_ones_out(tmp_path):
    sizes = task_sizes(plan_of(), layout(tmp_path, MANIFEST))
    jobs = cost_plan.parse_jobs(DRY_RUN)
    assert [j.rule for j in jobs] == ["train", "train", "bridge", "judge", "bridge_served"] and jobs[
        0
    ].task == "if"
    lines, space = cost_plan.estimate(PAPER, jobs, sizes)
    plan, t = PAPER["plan"], PAPER["plan"]["tasks"]["if"]
    tokens = (
        2 * 61135 * t["tokens"]
    )  # the stated tokens; the run reads its reference sums (rule reference_sums)
    assert lines["train"].gpu_hours == pytest.approx(tokens / plan["train_tokens_per_gpu_s"] / 3600)
    assert lines["train"].before_gpu_hours == pytest.approx(
        lines["train"].gpu_hours * (1 + plan["reference_cost"])
    )
    assert (
        lines["train"].unknown == 1 and lines["train"].requested_gpu_hours == 80 + 24
    )  # math's: not estimated
    assert lines["bridge"].calls == 70  # QA's preference questions
    assert lines["judge"].calls == 2 * 2  # arena_hard's 2 questions, judged in both orders
    served = lines["bridge_served"]
    assert served.calls == 0 and served.requested_gpu_hours == 48
    tokens_out = 70 * plan["editor"]["output_tokens"]
    assert served.gpu_hours == pytest.approx(tokens_out / plan["editor_server"]["tokens_per_s"] / 3600 * 4)
    assert space["peak"] == space["models"] + space["checkpoints"] > 0
    text = cost_plan.render(lines, space, PAPER, sizes)
    assert "a lower bound: 1 jobs of unknown size left out" in text and "train (1 of unknown size" in text
    assert "| qa | preference questions / pairs | 70 | ECQA/train.jsonl (release manifest)" in text
    # another data source, another plan
    more = task_sizes(plan_of(), layout(tmp_path / "more", {**MANIFEST, "ECQA/train.jsonl": 400}))
    assert cost_plan.estimate(PAPER, jobs, more)[0]["bridge"].calls == 430


def test_the_shipped_paper_plan_counts_what_the_manifest_records():
    sizes = task_sizes(Plan(check(PAPER), PAPER), REPO)
    manifest = yaml.safe_load((REPO / "workflow/resources/bmc_release.yaml").read_text())["files"]
    rows = {e["dest"]: e.get("rows") for e in manifest.values()}
    assert sizes["qa"].pairs.n == sum(rows[f"{f}/train.jsonl"] for f in ("ECQA", "QASC", "OpenbookQA", "ARC"))
    assert sizes["qa"].sft_examples.n == rows["qa_sft/train-00000-of-00001.parquet"]
    assert sizes["if"].test_examples.n == rows["if/alpaca_eval.json"] + rows["if/arena_hard.jsonl"]


# ---- tokens per training example (bmc.data.lengths) and the training jobs' cost (bmc.plan.cost_training) ----------
def test_padded_micro_batches_hold_their_longest_sequence():
    from bmc.data.lengths import padded_mean

    assert padded_mean([[3, 5], [2, 2]], batch=2) == 4 * 5 / 2  # one micro-batch: 4 sequences of 5 positions
    assert padded_mean([[3, 5], [2, 2]], batch=1) == (2 * 5 + 2 * 2) / 2
    assert padded_mean([[7], [7], [7]], batch=2) == 7  # equal lengths: no padding, a short last batch


def test_lengths_come_from_the_data_the_config_reads(tmp_path):
    from bmc.data.lengths import TaskLengths

    lengths = TaskLengths(Plan(check(PAPER), PAPER), REPO)
    qa = lengths.pairs("qa", 2048, 4)
    assert 0 < qa.real < qa.padded and qa.n > 100 and "workflow/resources/data/qa" in qa.source
    assert "the release is not laid out" in qa.source and "SmolLM2" in qa.source
    assert lengths.pairs("qa", 64, 4).real < qa.real  # truncation to max_length counts
    assert lengths.pairs("if", 2048, 4) is None  # a hub split: not read here
    # local UltraFeedback files are read as the data stage reads them
    turns = [
        {
            "chosen": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": "a " * (3 + 40 * i)},
            ],
            "rejected": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "b"}],
        }
        for i in range(4)
    ]
    (tmp_path / "uf.jsonl").write_text("".join(json.dumps(r) + "\n" for r in turns))
    config = copy.deepcopy(PAPER)
    config["data"]["if"]["data_files"] = str(tmp_path / "uf.jsonl")
    found = TaskLengths(Plan(check(config), config), REPO).pairs("if", 2048, 2)
    assert found.n == 4 and found.padded > found.real and str(tmp_path / "uf.jsonl") in found.source


class FixedLengths:
    """Lengths of 100 real tokens per pair, 150 padded."""

    def pairs(self, task, max_length, batch):
        from bmc.data.lengths import Lengths

        return Lengths(100.0, 150.0, 10, "fixed")


def test_training_costs_follow_padding_and_the_shared_reference_sums():
    from bmc.plan import cost_training

    plan = Plan(check(PAPER), PAPER)
    spec = PAPER["plan"]
    ref, speed = spec["reference_cost"], spec["train_tokens_per_gpu_s"] * 3600

    def cost(rule, **wildcards):
        return cost_training.job_cost(rule, {"task": "qa", **wildcards}, 1000, PAPER, plan, FixedLengths())

    # DPO-BMC reads its reference sums: no reference pass in the job; padding-free counts the real tokens
    shared = cost("train", method="DPO-BMC", seed="0")
    assert shared.configured == pytest.approx(1000 * 100 / speed) and shared.padded == pytest.approx(
        1000 * 150 / speed
    )
    assert shared.before == pytest.approx(1000 * 150 * (1 + ref) / speed)
    tdpo = cost("train", method="TDPO", seed="0")  # its reference runs at every step
    assert tdpo.configured == pytest.approx(1000 * 100 * (1 + ref) / speed) and tdpo.before == tdpo.padded
    simpo = cost("train", method="SimPO", seed="0")  # no reference
    assert simpo.configured == pytest.approx(1000 * 100 / speed) and simpo.before == simpo.padded
    sums = cost("reference_sums", source="original", weighting="plain")
    assert sums.configured == pytest.approx(1000 * 100 * ref / speed) and sums.before == 0.0
    sweep = cost("sweep_train", sweep="delta", point="1.0", seed="0")  # computes its own sums
    assert sweep.configured == pytest.approx(1000 * 100 * (1 + ref) / speed)
    text = cost_plan.training(
        {
            "train": cost_plan.Line(
                gpu_hours=1.0, padded_gpu_hours=2.0, before_gpu_hours=4.0, by_task={"qa": [1.0, 2.0, 4.0]}
            )
        }
    )
    assert "| qa | 1.0 | 2.0 | 4.0 | 75% |" in text and "| **all** | 1.0 | 2.0 | 4.0 | 75% |" in text
