"""The preference-training methods of the paper, by name: one module per objective in this folder (`dpo.py`,
`ipo.py`, ...), each declaring `METHOD = Objective(...)` (`bmc.alignment.method_spec`). Every module here whose
name does not start with `_` is registered, a user's own among them (docs/adding-a-method.md). Imports nothing
heavy (the Snakefile reads it): the modules import torch inside their loss functions only.

A method is a training-data choice, an objective and whether BMC confidence weights are on. "-BC" trains on
bridged pairs (pseudo-winning ỹ_w vs y_l), "-MC" weights varied tokens by the model's confidence, "-BMC" does
both. The paper's objectives (DPO, IPO, R-DPO, SimPO, ORPO, FIGA, TDPO), each formula above its function, are
in `bmc.alignment.objective`; their modules here delegate to them.

A run's method name may say which bridged pairs a method on bridged data trains on, e.g. `DPO-BMC@inverse`
(Table 3) or `DPO-BMC@targeted+llama3_70b` (Table 4): `parse_method_name` below reads them.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, replace
from pathlib import Path

from bmc.alignment.method_spec import Objective
from bmc.bridging.prompts import STRATEGIES
from bmc.training.options import trainer_fields

FOLDER = Path(__file__).parent


@dataclass(frozen=True)
class Method:
    name: str
    data: str  # "original" | "bridged"
    loss: str  # the objective's module name, one of LOSSES
    bmc_weights: bool

    @property
    def objective(self) -> Objective:
        return OBJECTIVES[self.loss]

    @property
    def needs_reference(self) -> bool:
        return self.objective.reference

    @property
    def needs_distributions(self) -> bool:
        """TDPO's KL term reads the full next-token distributions of the policy and the reference."""
        return self.objective.distributions

    @property
    def needs_masks(self) -> bool:
        """FIGA reads the diff masks even without confidence weights."""
        return self.bmc_weights or self.objective.token_weights == "diff_mask"


class MethodModuleError(ValueError):
    """A module of the methods folder that does not declare a method properly (the message names its file)."""


def bmc_variant(base: str) -> str:
    """The name of an objective with BMC (bridged pairs and confidence weights), e.g. IPO-BMC."""
    return f"{base}-BMC"


# the `train` settings a job reads besides the trainer's (bmc.config.Train, bmc.alignment.training.OWN_KEYS)
SUITE_SETTINGS = frozenset({"methods", "method_params", "max_prompt_length", "precompute_ref_logps"})
SUITE_SETTINGS |= {"attn_implementation", "prompt_format", "seed"}


def settings_names() -> frozenset[str]:
    """What a method's hyperparameter may not be called: a setting a training job already takes, except the
    trainer fields BMCTrainer fixes at their default (TRL's `label_smoothing`, ...), which no job can set."""
    spec = trainer_fields()["train"]
    return SUITE_SETTINGS | (set(spec["fields"]) - set(spec["fixed"]))


def declaration(module_name: str, folder: Path = FOLDER, package: str = __name__) -> Objective:
    """The `METHOD` a module of the methods folder declares; MethodModuleError naming its file and what is wrong."""
    path = folder / f"{module_name}.py"
    try:
        module = importlib.import_module(f"{package}.{module_name}")
    except Exception as e:  # a module that cannot even be imported is reported with its file
        raise MethodModuleError(f"{path}: cannot be imported: {type(e).__name__}: {e}") from e
    spec = getattr(module, "METHOD", None)
    if spec is None:
        raise MethodModuleError(
            f"{path}: declares no METHOD; a method module defines METHOD = Objective(...)"
        )
    if not isinstance(spec, Objective):
        raise MethodModuleError(f"{path}: METHOD must be an Objective(...), got {type(spec).__name__}")
    problems = spec.problems()
    taken = sorted(set(spec.hyperparameters) & settings_names())
    if taken:
        problems.append(f"hyperparameters {taken} are settings of the `train` section already; rename them")
    if problems:
        raise MethodModuleError(f"{path}: METHOD " + "; ".join(problems))
    return spec


def discover(folder: Path = FOLDER, package: str = __name__) -> dict[str, Objective]:
    """Every method module of `folder` (names not starting with `_`) by module name, checked together: method
    names unique across modules, baselines naming registered methods."""
    found = {
        info.name: declaration(info.name, folder, package)
        for info in sorted(pkgutil.iter_modules([str(folder)]), key=lambda i: i.name)
        if not info.name.startswith("_")
    }
    owner: dict[str, str] = {}
    for module_name, spec in found.items():
        if "SFT" in spec.method_names():
            raise MethodModuleError(
                f"{folder / f'{module_name}.py'}: SFT names the tables' SFT row, not a method"
            )
        for name in spec.method_names():
            if name in owner:
                raise MethodModuleError(
                    f"{folder / f'{module_name}.py'}: method {name!r} is already declared by "
                    f"{folder / f'{owner[name]}.py'}"
                )
            owner[name] = module_name
    for module_name, spec in found.items():
        if spec.baseline is not None and spec.baseline not in owner:
            raise MethodModuleError(
                f"{folder / f'{module_name}.py'}: METHOD baseline {spec.baseline!r} is no registered method; "
                f"valid: {', '.join(sorted(owner))}"
            )
    return found


def _registry(objectives: dict[str, Objective]) -> dict[str, Method]:
    return {
        name: Method(name, data, module_name, bmc_weights)
        for module_name, spec in sorted(objectives.items(), key=lambda item: item[1].name)
        for name, (data, bmc_weights) in spec.method_names().items()
    }


OBJECTIVES: dict[str, Objective] = discover()
LOSSES = tuple(OBJECTIVES)
METHODS: dict[str, Method] = _registry(OBJECTIVES)


def hyperparameters_of(name: str) -> dict:
    """The hyperparameters a method's module declares ({} for none), by name (`Hyperparameter`)."""
    return dict(get_method(name).objective.hyperparameters)


# ---- the comparisons the tables' paired tests make, from the declarations (methods in name order) --------
def _by_name() -> list[Objective]:
    return sorted(OBJECTIVES.values(), key=lambda spec: spec.name)


def table1_comparisons() -> list[tuple[str, str]]:
    """(baseline, method) pairs of Table 1: each variant of a method that declares `ablations` (DPO: -MC, -BC,
    -BMC) against it, then each method against its declared `baseline`."""
    pairs = [(s.name, f"{s.name}-{v}") for s in _by_name() if s.ablations for v in s.variants]
    return pairs + [(s.baseline, s.name) for s in _by_name() if s.baseline]


def table5_comparisons() -> list[tuple[str, str]]:
    """(method, method-BMC) pairs of Table 5: every method declared with a -BMC variant."""
    return [(s.name, bmc_variant(s.name)) for s in _by_name() if "BMC" in s.variants]


def get_method(name: str) -> Method:
    """The registered method of a run's method name (`DPO-BMC`, `DPO-BMC@inverse`, ...), under that name; an
    unknown or malformed name raises ValueError saying why (listing the valid methods)."""
    return replace(METHODS[parse_method_name(name).base], name=name)


def method_entry(method_params: dict | None, method: str) -> dict:
    """The `method_params` a run of `method` trains with: the entry of its objective (cDPO for cDPO-BMC), then
    that of its registered method (cDPO-BMC), then that of its run name (DPO-BMC@inverse), each on top of the one
    before. A variant thus trains as its base method does unless its own entry says otherwise, so that Table 5
    compares runs that differ by BMC alone."""
    given = method_params or {}
    registered = parse_method_name(method).base
    entry: dict = {}
    for name in dict.fromkeys([get_method(registered).objective.name, registered, method]):
        entry.update(given.get(name) or {})
    return entry


def uses_bridged_data(name: str) -> bool:
    return get_method(name).data == "bridged"


RELEASED = "released"  # the authors' released bridged pairs: a source of pairs rather than a strategy we run
SFT = "SFT"  # Table 1's first row: the SFT model, trained (or given) once per task
BMC = "DPO-BMC"  # the method Tables 3 and 4 train on each strategy's and each editor's pairs
# Snakemake wildcard patterns of a bridging strategy, an editor name, a bridged-pairs variant and a method name
STRATEGY_PATTERN = r"[a-z_]+"
EDITOR_PATTERN = r"[A-Za-z0-9_-]+"
VARIANT_PATTERN = rf"{STRATEGY_PATTERN}(\+{EDITOR_PATTERN})?"
METHOD_PATTERN = rf"[A-Za-z0-9-]+(@{VARIANT_PATTERN})?"
EDITOR_NAME = re.compile(EDITOR_PATTERN)


@dataclass(frozen=True)
class MethodName:
    """A run's method name, parsed: the registered method and, for bridged pairs, their strategy and editor."""

    base: str
    strategy: str | None = None  # None: the config's bridge.strategy
    editor: str | None = None  # a table4_editors name; None: the config's bridge.editor

    def __str__(self) -> str:
        return format_method_name(self.base, self.strategy, self.editor)

    def variant(self, default_strategy: str) -> str:
        """The folder name of its bridged pairs: the strategy, with `+editor` for a named editor."""
        strategy = self.strategy or default_strategy
        return f"{strategy}+{self.editor}" if self.editor else strategy


def parse_method_name(name: str) -> MethodName:
    """`name` parsed by the grammar above; ValueError names what is wrong (and the valid choices)."""
    base, at, bridging = name.partition("@")
    if base not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    if not at:
        return MethodName(base)
    strategy, plus, editor = bridging.partition("+")
    if strategy not in STRATEGIES and strategy != RELEASED:
        valid = sorted([*STRATEGIES, RELEASED])
        raise ValueError(f"unknown bridging strategy in {name!r}; expected one of {valid}")
    if plus and strategy == RELEASED:
        raise ValueError(f"the released pairs come with their own editor, so {name!r} may not name one")
    if plus and not EDITOR_NAME.fullmatch(editor):
        raise ValueError(f"editor name in {name!r} must be letters, digits, '_' or '-'")
    if METHODS[base].data != "bridged":
        raise ValueError(f"{base} trains on the original pairs, so it takes no bridging strategy ({name!r})")
    return MethodName(base, strategy, editor or None)


def format_method_name(base: str, strategy: str | None = None, editor: str | None = None) -> str:
    """The method name of `base` trained on the pairs of `strategy` (and `editor`); the inverse of parsing."""
    if editor and not strategy:
        raise ValueError(f"an editor ({editor!r}) needs the bridging strategy it edits by")
    return base + (f"@{strategy}" if strategy else "") + (f"+{editor}" if editor else "")


def split_variant(variant: str) -> tuple[str, str | None]:
    """(strategy, editor name or None) of a bridged-pairs variant."""
    strategy, _, editor = variant.partition("+")
    return strategy, editor or None
