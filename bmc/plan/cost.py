"""The cost plan (`bmc plan`): what a config's run costs before anything is submitted.

GPU-hours per rule and in total, peak scratch space, and API calls with tokens and cost, from the throughput
assumptions in the config's `plan` section. Training jobs count the tokens of the data they read
(`bmc.data.lengths`, `bmc.plan.cost_training`), and the plan prints their GPU-hours as configured, padded, and as
before padding-free batches and shared reference sums.

Usage: bmc plan --configfile workflow/config/paper.yaml [overlay.yaml ...] [--config KEY=VALUE ...]
(`--config` sets keys over the files' as Snakemake's does, each value read as YAML, e.g. 'tasks=["qa"]').

The jobs are those of `snakemake --dry-run --forceall` for the config (every job, as on a fresh cluster).
How many examples each job processes comes from the data the config reads (`bmc.data.sizes`: counted, or
the release manifest's row counts), and the output says where each count comes from; a job whose count is
unknown is listed but not estimated, and the totals say so. GPU-hours are estimated from tokens processed
and the stated throughputs; `requested` is what the jobs reserve (GPUs x runtime of `cluster.rules`), an
upper bound the scheduler charges at most.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bmc.config import check
from bmc.data.lengths import TaskLengths
from bmc.data.sizes import Size, TaskSizes, task_sizes
from bmc.llm.server import is_loopback, served, server_gpus
from bmc.plan import cost_training
from bmc.plan.cluster import GPU_STAGES, RULE_TASKS
from bmc.plan.runs import Plan, split_variant

REPO = Path(__file__).resolve().parents[2]
GIB = 1024**3


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str]
    resources: dict[str, str]

    @property
    def task(self) -> str | None:
        return (
            self.wildcards.get("task")
            or RULE_TASKS.get(self.rule)
            or ("if" if self.rule == "judge" else None)
        )


@dataclass
class Line:
    jobs: int = 0
    gpu_hours: float = 0.0
    requested_gpu_hours: float = 0.0
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    unknown: int = 0  # jobs whose example count is unknown: not estimated
    notes: set[str] = field(default_factory=set)
    padded_gpu_hours: float = 0.0  # training jobs: the same jobs with padded batches
    before_gpu_hours: float = 0.0  # training jobs: padded, each run computing its own reference sums
    by_task: dict[str, list[float]] = field(default_factory=dict)  # training jobs: the three, per task


def merged_config(files: list[str], overrides: list[str] = ()) -> dict:
    """The config files merged by Snakemake's own merge of `--configfile`s (later files update earlier ones), and
    `--config` overrides (KEY=VALUE) over them, read by Snakemake's own parser."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    config: dict = {}
    for f in files:
        update_config(config, yaml.safe_load(Path(f).read_text(encoding="utf-8")) or {})
    update_config(config, parse_config(list(overrides)))
    return config


def dry_run_jobs(
    files: list[str], snakefile: Path = REPO / "Snakefile", overrides: list[str] = ()
) -> list[Job]:
    """Every job of the config's DAG, parsed from a forced dry run."""
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--forceall", "--snakefile", str(snakefile)]
    cmd += ["--configfile", *[str(Path(f).resolve()) for f in files]]
    cmd += ["--config", *overrides] if overrides else []
    proc = subprocess.run(cmd, cwd=snakefile.parent, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake dry run failed:\n{proc.stderr[-3000:]}")
    return parse_jobs(proc.stdout)


def parse_jobs(text: str) -> list[Job]:
    jobs: list[Job] = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head or head.group(1) == "all":
            continue
        fields = dict(re.findall(r"^\s+(wildcards|resources): (.*)$", block, flags=re.M))

        def pairs(line: str) -> dict[str, str]:
            return dict(p.split("=", 1) for p in line.split(", ") if "=" in p)

        jobs.append(
            Job(head.group(1), pairs(fields.get("wildcards", "")), pairs(fields.get("resources", "")))
        )
    return jobs


def estimate(
    config: dict, jobs: list[Job], sizes: dict[str, TaskSizes], lengths: TaskLengths | None = None
) -> tuple[dict[str, Line], dict]:
    """Per-rule lines and the scratch-space figures; `sizes` are the tasks' example counts, `lengths` their
    token counts (None: the stated token means)."""
    plan = config["plan"]
    the_plan = Plan(check(config), config)
    lines: dict[str, Line] = defaultdict(Line)
    for job in jobs:
        line = lines[job.rule]
        line.jobs += 1
        gpus = int(job.resources.get("gpu", 0) or 0)
        line.requested_gpu_hours += gpus * int(job.resources.get("runtime", 0) or 0) / 60
        t, n = plan["tasks"].get(job.task or "", {}), examples(job, sizes)
        if n is None:
            line.unknown += 1
            continue
        stage = GPU_STAGES.get(job.rule)
        if job.rule in cost_training.RULES:
            cost = cost_training.job_cost(job.rule, job.wildcards, n, config, the_plan, lengths)
            line.gpu_hours += cost.configured
            line.padded_gpu_hours += cost.padded
            line.before_gpu_hours += cost.before
            task = line.by_task.setdefault(job.task, [0.0, 0.0, 0.0])
            for i, value in enumerate((cost.configured, cost.padded, cost.before)):
                task[i] += value
            if lengths is not None and not cost.counted:
                line.notes.add(f"{job.task}: stated tokens, padding not counted")
        elif stage == "generate":
            line.gpu_hours += n * t["new_tokens"] / plan["generate_tokens_per_gpu_s"] / 3600
        elif job.rule == "analysis":
            line.gpu_hours += plan["analysis_gpu_hours"] * (1 if gpus else 0)
        elif stage == "bridge":  # `bridge` and `bridge_served`
            bridge_call(config, job, n, line)
        elif job.rule == "judge":
            judge_call(config, job, n, line)
    return dict(lines), scratch(config, jobs)


def examples(job: Job, sizes: dict[str, TaskSizes]) -> int | None:
    """How many examples the job processes (None: unknown); 0 for jobs whose cost does not depend on it."""
    task = sizes.get(job.task or "")
    stage = GPU_STAGES.get(job.rule)
    if task is None or job.rule == "analysis":
        return 0
    if job.rule == "sft":
        return task.sft_examples.n
    if stage in ("train", "bridge") or job.rule == "sample_losing":
        return task.pairs.n
    if stage == "generate":
        return task.test_examples.n
    if job.rule == "judge":
        return task.tests.get(job.wildcards["dataset"], Size(None, "")).n
    return 0


def editor_of(config: dict, variant: str) -> dict:
    name = split_variant(variant)[1]
    return (config.get("table4_editors") or {})[name] if name else config["bridge"]["editor"]


def bridge_call(config: dict, job: Job, pairs: int, line: Line) -> None:
    plan, editor = config["plan"], editor_of(config, job.wildcards["strategy"])
    calls = round(pairs * float(config["bridge"].get("proportion", 1.0)))
    tin, tout = calls * plan["editor"]["input_tokens"], calls * plan["editor"]["output_tokens"]
    if served(editor) or is_loopback(str(editor.get("base_url", ""))):
        server = plan["editor_server"]
        n = server_gpus(editor) or server["gpus"]
        line.gpu_hours += tout / server["tokens_per_s"] / 3600 * n
        line.notes.add(f"{editor['model']} served on {n} GPUs")
        return
    price = plan["prices"].get(editor["model"], plan["prices"].get("default"))
    line.calls += calls
    line.tokens_in += tin
    line.tokens_out += tout
    line.cost += (tin * price["input"] + tout * price["output"]) / 1e6


def judge_call(config: dict, job: Job, examples: int, line: Line) -> None:
    plan = config["plan"]
    n = examples * plan["judge"]["calls_per_example"][job.wildcards["dataset"]]
    price = plan["prices"].get(config["judge"]["model"], plan["prices"].get("default"))
    line.calls += n
    line.tokens_in += n * plan["judge"]["input_tokens"]
    line.tokens_out += n * plan["judge"]["output_tokens"]
    line.cost += (
        n * plan["judge"]["input_tokens"] * price["input"]
        + n * plan["judge"]["output_tokens"] * price["output"]
    ) / 1e6


def scratch(config: dict, jobs: list[Job]) -> dict:
    """Bytes of the saved models (kept to the end), the checkpoints of the training jobs running at once, and
    their sum, the peak."""
    plan = config["plan"]
    model_rules = ("base_model", "sft", "sft_given", "train", "sweep_train", "editor_model")
    models = sum(
        plan["tasks"].get(j.task or "", {}).get("params_b", plan["base_params_b"]) * 1e9 * 2
        for j in jobs
        if j.rule in model_rules
    )
    biggest = max(t["params_b"] for t in plan["tasks"].values()) * 1e9
    keep = (
        int((config.get("train") or {}).get("save_total_limit", 1)) + 1
    )  # the newest while the next is written
    per_job = biggest * plan["checkpoint_bytes_per_param"] * keep
    checkpoints = per_job * plan["concurrent_training_jobs"]
    return {
        "models": models,
        "checkpoints": checkpoints,
        "per_job_checkpoints": per_job,
        "peak": models + checkpoints,
    }


def _row(name: str, line: Line, bold: bool = False) -> str:
    b = "**" if bold else ""
    cells = [
        name,
        f"{line.jobs}",
        f"{b}{line.gpu_hours:,.1f}{b}",
        f"{line.requested_gpu_hours:,.0f}",
        f"{b}{line.calls:,}{b}",
        f"{line.tokens_in / 1e6:,.1f}M",
        f"{line.tokens_out / 1e6:,.1f}M",
        f"{b}{line.cost:,.0f}{b}",
    ]
    return "| " + " | ".join(cells) + " |"


def sizes_table(sizes: dict[str, TaskSizes]) -> str:
    """Each task's example counts and where each comes from."""
    rows = ["| task | quantity | examples | from |", "| --- | --- | ---: | --- |"]
    for task, sized in sizes.items():
        quantities = {"SFT examples": sized.sft_examples, "preference questions / pairs": sized.pairs}
        quantities |= {f"test: {name}": size for name, size in sized.tests.items()}
        for what, size in quantities.items():
            rows.append(
                f"| {task} | {what} | {'unknown' if size.n is None else f'{size.n:,}'} | {size.source} |"
            )
    return "\n".join(rows) + "\n"


def render(lines: dict[str, Line], space: dict, config: dict, sizes: dict[str, TaskSizes]) -> str:
    plan = config["plan"]
    head = f"Cost plan for `{config['scale']}` (GPU: {plan['gpu']}; assumptions: the config's `plan`)\n\n"
    rows = ["| rule | jobs | GPU-hours | requested GPU-hours | API calls | tokens in | tokens out | cost |"]
    rows.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    total = Line()
    costly = {r: v for r, v in lines.items() if v.gpu_hours or v.calls or v.requested_gpu_hours or v.unknown}
    for rule, line in sorted(costly.items(), key=lambda kv: (-kv[1].gpu_hours, -kv[1].cost, kv[0])):
        notes = sorted(line.notes) + (
            [f"{line.unknown} of unknown size, not estimated"] if line.unknown else []
        )
        rows.append(_row(rule + (f" ({'; '.join(notes)})" if notes else ""), line))
    for line in lines.values():
        for name in (
            "jobs",
            "gpu_hours",
            "requested_gpu_hours",
            "calls",
            "tokens_in",
            "tokens_out",
            "cost",
            "unknown",
        ):
            setattr(total, name, getattr(total, name) + getattr(line, name))
    rest = sorted(set(lines) - set(costly))
    if rest:
        rows.append(_row(f"CPU only: {', '.join(rest)}", Line(jobs=sum(lines[r].jobs for r in rest))))
    bound = f"; a lower bound: {total.unknown} jobs of unknown size left out" if total.unknown else ""
    rows.append(_row(f"**total** ({plan.get('currency', 'USD')}{bound})", total, bold=True))
    disk = (
        f"\nPeak scratch: {space['peak'] / 1e12:,.2f} TB = saved models {space['models'] / 1e12:,.2f} TB"
        f" (bf16, all kept) + checkpoints of {plan['concurrent_training_jobs']} training jobs at once"
        f" ({space['per_job_checkpoints'] / GIB:,.0f} GiB each: {plan['checkpoint_bytes_per_param']}"
        " bytes/parameter, the newest checkpoint and the one being written).\n"
    )
    counts = "\nExamples per task (`bmc.data.sizes`; capped by the config's `data.<task>` sizes):\n\n"
    return head + "\n".join(rows) + "\n" + disk + training(lines) + counts + sizes_table(sizes)


def training(lines: dict[str, Line]) -> str:
    """The training jobs' GPU-hours as configured and in the two comparisons (`bmc.plan.cost_training`), in total
    and per task."""
    jobs = [lines[r] for r in cost_training.RULES if r in lines]
    if not jobs:
        return ""
    tasks: dict[str, list[float]] = {}
    for job in jobs:
        for task, values in job.by_task.items():
            tasks[task] = [a + b for a, b in zip(tasks.get(task, [0.0] * 3), values, strict=True)]
    rows = [
        "| training jobs | as configured | padded | padded, each run computing its reference sums | fewer |"
    ]
    rows.append("| --- | ---: | ---: | ---: | ---: |")
    for name, (now, padded, before) in [
        *sorted(tasks.items()),
        ("**all**", [sum(v[i] for v in tasks.values()) for i in range(3)]),
    ]:
        fewer = f"{(before - now) / before:.0%}" if before else "-"
        rows.append(f"| {name} | {now:,.1f} | {padded:,.1f} | {before:,.1f} | {fewer} |")
    rules = ", ".join(r for r in cost_training.RULES if r in lines)
    return (
        f"\nGPU-hours of the training jobs ({rules}; tokens per example below):\n\n" + "\n".join(rows) + "\n"
    )


def lengths_table(lengths: TaskLengths, config: dict, plan: Plan) -> str:
    """Each task's tokens per training example, padded and padding-free, and where they were counted."""
    rows = ["| task | examples | tokens (padding-free) | padded | padding | counted on | from |"]
    rows.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for task in plan.tasks:
        kinds = [("pairs", "train", lengths.pairs)]
        kinds += [("SFT", "sft", lengths.sft)] if task in plan.trained_sft_tasks else []
        for what, section, count in kinds:
            settings = plan.task_settings(section, task)
            found = count(task, settings.get("max_length"), cost_training.batch(settings))
            if found is None:
                stated = config["plan"]["tasks"][task]["tokens"] * (2 if what == "pairs" else 1)
                rows.append(f"| {task} | {what} | {stated:,} (stated) | - | - | - | not countable offline |")
                continue
            cells = [
                f"{found.real:,.0f}",
                f"{found.padded:,.0f}",
                f"{found.pad_fraction:.0%}",
                f"{found.n:,}",
            ]
            rows.append(f"| {task} | {what} | " + " | ".join(cells) + f" | {found.source} |")
    return "\nTokens per training example (`bmc.data.lengths`):\n\n" + "\n".join(rows) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--configfile", nargs="+", required=True, help="the scale's config file, then its overlays"
    )
    p.add_argument(
        "--config",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="settings over the files', as Snakemake's --config takes them (each value read as YAML)",
    )


def run(args: argparse.Namespace) -> None:
    config = merged_config(args.configfile, args.config)
    if not config.get("plan"):
        files = " ".join(args.configfile)
        raise ValueError(f"{files}: no `plan` section (throughput assumptions) to estimate from")
    plan = Plan(check(config), config)
    sizes, lengths = task_sizes(plan, REPO), TaskLengths(plan, REPO)
    lines, space = estimate(config, dry_run_jobs(args.configfile, overrides=args.config), sizes, lengths)
    print(render(lines, space, config, sizes) + lengths_table(lengths, config, plan))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmc.plan.cost", description=__doc__)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
