"""One entry module per stage, named after the Snakemake rule that runs it (`bmc <stage>`, see `bmc.cli`).

Each exposes `add_arguments(parser)` and `run(args)`: it parses its arguments, reads its settings, calls the
libraries (`bmc.data`, `bmc.generation`, `bmc.alignment`, ...) and writes its outputs; no other logic. Its
docstring is its `bmc <stage> --help`. A new module here is a new command.
"""

import pkgutil

STAGES = sorted(m.name for m in pkgutil.iter_modules(__path__))
# the rules that run a stage, where another rule than the one named after it does; `sweep_score` runs
# `generate`, then `evaluate` on each test set
SHARED = {
    "model": ("base_model", "editor_model", "sft_given"),
    "release": ("release", "arena_hard_judge"),
    "bridge": ("bridge", "bridge_served"),
    "train": ("train", "sweep_train"),
    "generate": ("generate_qa", "generate_math", "generate_if", "sweep_score"),
    "evaluate": ("evaluate", "sweep_score"),
    "table": ("table1", "table2", "table3", "table4", "table5"),
}
RULES: dict[str, tuple[str, ...]] = {stage: SHARED.get(stage, (stage,)) for stage in STAGES}
