"""`bmc <stage> ...`: one subcommand per pipeline stage. Parsing only; logic lives in the stage modules."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from bmc.reporting.provenance import environment

# stage name -> module exposing add_arguments(parser) and run(args)
STAGES = {
    "model": "bmc.models.prepare",
    "release": "bmc.data.release",
    "data": "bmc.data.qa",
    "data-math": "bmc.data.math",
    "data-if": "bmc.data.instruct",
    "sft": "bmc.sft",
    "sample": "bmc.pairs:sample",
    "pairs": "bmc.pairs:build",
    "pairs-given": "bmc.pairs:given",
    "released-pairs": "bmc.data.released_pairs",
    "bridge": "bmc.bridging.run",
    "train": "bmc.alignment.train",
    "generate": "bmc.generation.run",
    "evaluate": "bmc.evaluation.run",
    "judge": "bmc.evaluation.instruction_following",
    "table": "bmc.reporting.tables",
    "report": "bmc.reporting.report",
    "analysis": "bmc.analysis.run",
    "sweep-pairs": "bmc.analysis.sweeps",
}


def _load(target: str):
    """Return (add_arguments, run) for `module` or `module:prefix` (prefix_add_arguments, prefix_run)."""
    module, _, prefix = target.partition(":")
    mod = importlib.import_module(module)
    pre = f"{prefix}_" if prefix else ""
    return getattr(mod, f"{pre}add_arguments"), getattr(mod, f"{pre}run")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bmc", description=__doc__)
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    chosen = argv[0] if argv and argv[0] in STAGES else None
    for name, target in STAGES.items():
        sp = sub.add_parser(name, help=f"run the {name} stage")
        if name == chosen:  # import only the stage that runs (heavy imports)
            add_arguments, run = _load(target)
            add_arguments(sp)
            sp.set_defaults(_run=run)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the job's log records the environment it ran in (the conda env of the rule's `conda:` file, if any)
    logging.getLogger("bmc.cli").info("%s in %s", args.stage, json.dumps(environment()))
    args._run(args)


if __name__ == "__main__":
    main()
