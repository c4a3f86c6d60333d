"""Which outputs of a run were made by other code or from changed inputs, and what to rerun (`bmc status`).

Every `bmc <stage>` job that succeeds writes, beside each output it names (`--out`, `--out-*`, `--summary`),
`<output>.provenance.json`: the command, the code that ran (`bmc.reporting.provenance.code_version` and the hash
of every package file it loaded), the own model folders its settings name (a folder with a `config.json`,
fingerprinted by `bmc.io.model_fingerprint`), the run's config options (`BMC_RUN_OPTIONS`, which the workflow
sets) and when it finished.

An output is stale when a file of the code that made it has changed since (made by other code), or an own model
folder it read has (from changed inputs). Snakemake reruns a job when its inputs, parameters or rule change, not
when the package's code or the weights inside a folder named by a setting do; `bmc status` lists those outputs
and the `--forcerun` that remakes them with what depends on them.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bmc.io import model_fingerprint, read_json, write_json
from bmc.reporting.provenance import PACKAGE, code_files, code_version, file_hash
from bmc.stages import RULES

SUFFIX = ".provenance.json"
OUTPUT_ARGS = ("out", "summary")  # with every `out_*`: the arguments naming a stage's outputs


def job_outputs(args: argparse.Namespace) -> list[str]:
    """The outputs a stage's parsed arguments name (a path, a folder or an output prefix each)."""
    found: list[str] = []
    for name, value in vars(args).items():
        if value and (name in OUTPUT_ARGS or name.startswith("out_")):
            found += [str(v) for v in (value if isinstance(value, list) else [value])]
    return found


def own_model_folders(settings: object) -> dict[str, str]:
    """Every local model folder (one with a config.json) a stage's settings name, by its absolute path, with its
    fingerprint: an own SFT model, a base model or an editor given as a folder."""
    found: dict[str, str] = {}
    if isinstance(settings, dict):
        for value in settings.values():
            found |= own_model_folders(value)
    elif isinstance(settings, list):
        for value in settings:
            found |= own_model_folders(value)
    elif isinstance(settings, str) and settings and Path(settings, "config.json").is_file():
        found[str(Path(settings).resolve())] = model_fingerprint(settings)
    return found


def write_records(stage: str, argv: list[str], args: argparse.Namespace) -> None:
    """The job's record beside each of its outputs (by the first process only, in a multi-process job)."""
    if os.environ.get("RANK", "0") != "0":
        return
    outputs = job_outputs(args)
    params = getattr(args, "params", None)
    try:
        settings = json.loads(params) if isinstance(params, str) else None
    except json.JSONDecodeError:
        settings = None
    record = {
        "job": uuid.uuid4().hex,
        "stage": stage,
        "command": ["bmc", *argv],
        "outputs": outputs,
        "code": {**code_version(), "files": code_files()},
        "inputs": own_model_folders(settings),
        "run_options": os.environ.get("BMC_RUN_OPTIONS"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for output in outputs:
        write_json(f"{output}{SUFFIX}", record)


@dataclass
class Job:
    """A recorded job of a run, and why its outputs are stale (nothing: current)."""

    record: dict
    outputs: list[str] = field(default_factory=list)  # those still there, found by their records
    changed_code: list[str] = field(default_factory=list)
    changed_inputs: list[str] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return self.record["stage"]


def output_exists(output: Path) -> bool:
    """A recorded output is still there: the path, or for an output prefix (an analysis's figures) a file
    named after it."""
    return output.exists() or any(
        p.name != output.name + SUFFIX for p in output.parent.glob(f"{output.name}.*") if p.is_file()
    )


class Current:
    """The package's files and own model folders as they are now, each looked at once."""

    def __init__(self, root: Path = PACKAGE.parent):
        self.root, self._files, self._folders = root, {}, {}

    def file(self, rel: str) -> str | None:
        if rel not in self._files:
            path = self.root / rel
            self._files[rel] = file_hash(path) if path.is_file() else None
        return self._files[rel]

    def folder(self, path: str) -> str | None:
        if path not in self._folders:
            self._folders[path] = model_fingerprint(path) if Path(path, "config.json").is_file() else None
        return self._folders[path]


def jobs(run_dir: str | Path, current: Current | None = None) -> list[Job]:
    """The recorded jobs of a run's folder whose outputs are still there, each checked against `current`."""
    current = current or Current()
    found: dict[str, Job] = {}
    for path in sorted(Path(run_dir).rglob(f"*{SUFFIX}")):
        output = path.with_name(path.name[: -len(SUFFIX)])
        if not output_exists(output):
            continue
        record = read_json(path)
        job = found.get(record["job"])
        if job is None:
            job = found[record["job"]] = Job(record)
            files = record["code"]["files"]
            job.changed_code = [f for f, h in files.items() if current.file(f) != h]
            inputs = record.get("inputs") or {}
            job.changed_inputs = [p for p, h in inputs.items() if current.folder(p) != h]
        job.outputs.append(str(output))
    return list(found.values())


def describe_change(job: Job) -> str:
    """Why a job's outputs are stale, in a few words."""
    parts = []
    if job.changed_code:
        parts.append("made by other code: " + ", ".join(_changed(f) for f in job.changed_code))
    if job.changed_inputs:
        parts.append("from changed inputs: " + ", ".join(f"{p} changed since" for p in job.changed_inputs))
    return "; ".join(parts)


def _changed(rel: str) -> str:
    return rel if (PACKAGE.parent / rel).is_file() else f"{rel} (removed)"


def rerun_targets(stale: list[Job]) -> list[str]:
    """What `snakemake --forcerun` takes to remake the stale jobs: the rules of a stage whose code changed (every
    job of a changed stage is stale), and the outputs (model folders) of a job whose own model folder changed."""
    rules = {r for job in stale if job.changed_code for r in RULES.get(job.stage, ())}
    folders = {o for job in stale if job.changed_inputs and not job.changed_code for o in job.outputs}
    return sorted(rules) + sorted(folders)


def run_options(run_dir: Path, stale: list[Job]) -> str:
    """The config options the stale jobs ran with (the newest's, as the workflow recorded them); unrecorded, none
    for the default run (mini) and a placeholder for another."""
    recorded = [j.record for j in stale if j.record.get("run_options") is not None]
    if recorded:
        options = max(recorded, key=lambda r: r["finished"])["run_options"]
        return f" {options}" if options else ""
    return "" if run_dir.name == "mini" else " <the run's --configfile and --config options>"


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def status_lines(run_dir: str | Path, current: Current | None = None) -> list[str]:
    """A run's stale outputs, grouped by stage and cause, and the command that remakes them."""
    run_dir = Path(run_dir)
    found = jobs(run_dir, current)
    if not found:
        return [f"{run_dir}: no job records"]
    stale = [j for j in found if j.changed_code or j.changed_inputs]
    head = f"{run_dir}: {counted(sum(len(j.outputs) for j in found), 'output')} of {counted(len(found), 'recorded job')}"
    if not stale:
        return [f"{head}, all current"]
    outputs = counted(sum(len(j.outputs) for j in stale), "output")
    lines = [f"{head}; {outputs} of {counted(len(stale), 'job')} {'are' if len(stale) > 1 else 'is'} stale:"]
    groups: dict[tuple[str, str], list[Job]] = defaultdict(list)
    for job in stale:
        groups[job.stage, describe_change(job)].append(job)
    for (stage, why), members in sorted(groups.items()):
        lines.append(f"  {stage} ({counted(len(members), 'job')}), {why}")
        lines += [f"    {o}" for job in members for o in sorted(job.outputs)]
    targets = " ".join(rerun_targets(stale))
    lines.append(f"  remake them: snakemake --cores all{run_options(run_dir, stale)} --forcerun {targets}")
    return lines


def run_folders(results: Path, names: list[str]) -> list[Path]:
    """The run folders to check: each name (a run's name or folder), else every folder under `results`."""
    if names:
        return [Path(n) if Path(n).is_dir() else results / n for n in names]
    return sorted(p for p in results.iterdir() if p.is_dir()) if results.is_dir() else []


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", help="run names (results/<run>) or folders; default: every run")
    p.add_argument("--results", default="results", help="the folder holding the runs (default: results)")
    p.add_argument("--check", action="store_true", help="exit with status 1 when an output is stale")


def run(args: argparse.Namespace) -> None:
    folders = run_folders(Path(args.results), args.runs)
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise FileNotFoundError(f"no run folder {', '.join(missing)}")
    if not folders:
        print(f"no runs under {args.results}/")
        return
    current = Current()
    lines = [line for folder in folders for line in status_lines(folder, current)]
    print("\n".join(lines))
    if args.check and any(line.startswith("  remake them") for line in lines):
        raise SystemExit(1)
