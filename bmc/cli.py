"""bmc: the stages of the BMC replication suite, one command each, named after the Snakemake rule that runs it
(every rule calls `python -m bmc.cli <stage> ...`), and two tools: `bmc plan`, what a config's run will cost,
and `bmc status`, which outputs were made by other code or from changed inputs.

`bmc <command> --help` describes a command: what it reads and writes, and its settings. A rule's name runs its
stage too (`bmc table1` is `bmc table`). A failing command prints one line saying what went wrong; `--debug` (or
BMC_DEBUG=1 in the environment) prints the traceback as well."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import logging
import os
import re
import sys
import textwrap
import traceback

from bmc import __version__
from bmc.stages import RULES

STAGES = {stage: f"bmc.stages.{stage}" for stage in RULES}  # command -> its entry module
TOOLS = {"plan": "bmc.plan.cost", "status": "bmc.reporting.job_records"}
# the names the stages had before they were named after their rules
OLD_NAMES = {
    "data": "data_qa",
    "data-math": "data_math",
    "data-if": "data_if",
    "sample": "sample_losing",
    "pairs": "build_pairs",
    "pairs-given": "given_pairs",
    "released-pairs": "released_pairs",
    "similarity-model": "similarity_model",
    "sweep-pairs": "sweep_pairs",
}
# every rule that runs one stage names it (sweep_score runs two: generate, then evaluate)
RULE_NAMES = {rule: stage for stage, rules in RULES.items() for rule in rules if rule != "sweep_score"}


def command_of(name: str) -> str | None:
    """The command a name given on the command line runs: a stage or tool, a rule's name, an old name."""
    for candidate in (name, name.replace("-", "_")):
        if candidate in STAGES or candidate in TOOLS:
            return candidate
        if candidate in RULE_NAMES:
            return RULE_NAMES[candidate]
    return OLD_NAMES.get(name)


def load_stage(command: str):
    """The entry module of a command (a stage's or a tool's)."""
    return importlib.import_module({**STAGES, **TOOLS}[command])


def module_doc(module: str) -> str:
    """A module's docstring, read from its source without importing it (`bmc --help` stays fast)."""
    spec = importlib.util.find_spec(module)
    with open(spec.origin, encoding="utf-8") as f:
        return ast.get_docstring(ast.parse(f.read())) or ""


def summary(doc: str) -> str:
    """A stage's docstring's first paragraph, without its "Rule `x`:" opening."""
    text = re.sub(r"^Rules? [^:]*?: ", "", " ".join(doc.split("\n\n")[0].split())).rstrip(".")
    return text[:1].upper() + text[1:]


def read_params(value: str) -> str:
    """`--params`: JSON, or `@file` for a file holding it."""
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise FileNotFoundError(f"--params {value}: cannot read {path} ({e.strerror})") from None


class Version(argparse.Action):
    """`--version`: the package version and the git commit of its checkout (looked up only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and git commit, then exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def version_text() -> str:
    from bmc.reporting.provenance import code_version

    code = code_version()
    dirty = ", with uncommitted changes" if code["dirty"] else ""
    return f"bmc {__version__} (git commit {code['commit']}{dirty})"


def parser_for(chosen: str | None, helping: bool) -> argparse.ArgumentParser:
    """The parser of `bmc`. Only the chosen command's module is imported; the others' help, needed only when
    help is asked for, comes from their docstrings, read without importing."""
    parser = argparse.ArgumentParser(
        prog="bmc",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.fill(
            "Older names still run their stage: " + ", ".join(f"{o} ({n})" for o, n in OLD_NAMES.items()), 100
        ),
    )
    parser.add_argument("--version", action=Version)
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="stages (each a rule's) and tools")
    for name, module in {**STAGES, **TOOLS}.items():
        entry = load_stage(name) if name == chosen else None
        doc = (entry.__doc__ if entry else module_doc(module) if helping else None) or ""
        rules = RULES.get(name, ())
        also = f" [rules {', '.join(rules)}]" if rules and rules != (name,) else ""
        sp = sub.add_parser(
            name,
            help=summary(doc) + also if helping else None,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        if entry:
            entry.add_arguments(sp)
            sp.set_defaults(_run=entry.run)
            for action in sp._actions:
                if action.dest == "params":
                    action.help = f"{action.help or 'JSON'}; @FILE reads it from a file"
    return parser


def main(argv: list[str] | None = None) -> None:
    """The command line (`argv` None: sys.argv) reports an error in one line; a call from Python with its own
    `argv` lets the exception through to its caller."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    position = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    chosen = command_of(argv[position]) if position is not None else None
    if chosen:
        argv[position] = chosen
    parser = parser_for(chosen, helping=position is None or bool({"-h", "--help"} & set(argv)))
    if position is None and not {"--version", "-h", "--help"} & set(argv):
        parser.print_help()
        return
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("BMC_DEBUG", "") not in ("", "0")
    try:
        run(args, argv[position + 1 :])
    except Exception as e:  # one line for the user; the traceback with --debug
        if not from_command_line:
            raise
        if debug:
            traceback.print_exc()
        clear = type(e).__module__.startswith("bmc") or isinstance(e, (OSError, ValueError))
        message = str(e) if clear else f"{type(e).__name__}: {e}"  # a bug's message needs its type
        hint = "" if debug else " (--debug shows the traceback)"
        print(f"bmc {args.command}: error: {message}{hint}", file=sys.stderr)
        raise SystemExit(1) from None


def run(args: argparse.Namespace, stage_argv: list[str]) -> None:
    if isinstance(getattr(args, "params", None), str):
        args.params = read_params(args.params)
    if args.command in TOOLS:
        args._run(args)
        return
    from bmc.reporting.job_records import write_records
    from bmc.reporting.provenance import environment

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the job's log records the environment it ran in (the conda env of the rule's `conda:` file, if any)
    logging.getLogger("bmc.cli").info(
        "%s in %s (%s)", args.command, json.dumps(environment()), version_text()
    )
    args._run(args)
    write_records(args.command, [args.command, *stage_argv], args)


if __name__ == "__main__":
    main()
