"""One entry module per Snakemake rule, named after it (`bmc <command>`, see `bmc.cli`).

Each exposes `add_arguments(parser)` and `run(args)`: it parses its arguments, reads its settings, calls the
libraries (`bmc.data`, `bmc.generation`, `bmc.alignment`, ...) and writes its outputs; no other logic.
"""
