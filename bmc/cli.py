"""`bmc <stage> ...`: one subcommand per pipeline stage, each run by its entry module in `bmc.stages`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from bmc.reporting.provenance import environment

# command -> the stage module (named after its rule) exposing add_arguments(parser) and run(args)
STAGES = {
    "model": "bmc.stages.model",
    "release": "bmc.stages.release",
    "data": "bmc.stages.data_qa",
    "data-math": "bmc.stages.data_math",
    "data-if": "bmc.stages.data_if",
    "sft": "bmc.stages.sft",
    "sample": "bmc.stages.sample_losing",
    "pairs": "bmc.stages.build_pairs",
    "pairs-given": "bmc.stages.given_pairs",
    "released-pairs": "bmc.stages.released_pairs",
    "bridge": "bmc.stages.bridge",
    "train": "bmc.stages.train",
    "generate": "bmc.stages.generate",
    "evaluate": "bmc.stages.evaluate",
    "judge": "bmc.stages.judge",
    "table": "bmc.stages.table",
    "report": "bmc.stages.report",
    "analysis": "bmc.stages.analysis",
    "similarity-model": "bmc.stages.similarity_model",
    "sweep-pairs": "bmc.stages.sweep_pairs",
}


def load_stage(command: str):
    """The entry module of a command."""
    return importlib.import_module(STAGES[command])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bmc", description=__doc__)
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    chosen = argv[0] if argv and argv[0] in STAGES else None
    for name in STAGES:
        sp = sub.add_parser(name, help=f"run the {name} stage")
        if name == chosen:  # import only the stage that runs (heavy imports)
            stage = load_stage(name)
            stage.add_arguments(sp)
            sp.set_defaults(_run=stage.run)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the job's log records the environment it ran in (the conda env of the rule's `conda:` file, if any)
    logging.getLogger("bmc.cli").info("%s in %s", args.stage, json.dumps(environment()))
    args._run(args)


if __name__ == "__main__":
    main()
