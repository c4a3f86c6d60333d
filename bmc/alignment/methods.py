"""The preference-training methods of the paper, by name. Imports nothing heavy (the Snakefile reads it).

A method is a training-data choice, a base objective and whether BMC confidence weights are on.
"-BC" trains on bridged pairs (pseudo-winning ỹ_w vs y_l), "-MC" weights varied tokens by the model's
confidence, "-BMC" does both. The objectives (`LOSSES`: DPO, IPO, R-DPO, SimPO, ORPO, FIGA, TDPO), each
formula above its function, are in `bmc.alignment.objective`.

A run's method name may say which bridged pairs a method on bridged data trains on, e.g. `DPO-BMC@inverse`
(Table 3) or `DPO-BMC@targeted+llama3_70b` (Table 4): `parse_method_name` below reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bmc.bridging.prompts import STRATEGIES

DATA_KINDS = ("original", "bridged")
LOSSES = ("dpo", "ipo", "rdpo", "simpo", "orpo", "figa", "tdpo")
REFERENCE_FREE = frozenset({"simpo", "orpo", "figa"})


@dataclass(frozen=True)
class Method:
    name: str
    data: str  # "original" | "bridged"
    loss: str  # one of LOSSES
    bmc_weights: bool

    @property
    def needs_reference(self) -> bool:
        return self.loss not in REFERENCE_FREE

    @property
    def needs_distributions(self) -> bool:
        """TDPO's KL term reads the full next-token distributions of the policy and the reference."""
        return self.loss == "tdpo"

    @property
    def needs_masks(self) -> bool:
        """FIGA reads the diff masks even without confidence weights."""
        return self.bmc_weights or self.loss == "figa"


BASES = {"DPO": "dpo", "IPO": "ipo", "R-DPO": "rdpo", "SimPO": "simpo", "ORPO": "orpo"}


def bmc_variant(base: str) -> str:
    """The name of an objective with BMC (bridged pairs and confidence weights), e.g. IPO-BMC."""
    return f"{base}-BMC"


def _registry() -> dict[str, Method]:
    methods = {}
    for base, loss in BASES.items():
        methods[base] = Method(base, "original", loss, bmc_weights=False)
        methods[bmc_variant(base)] = Method(bmc_variant(base), "bridged", loss, bmc_weights=True)
    methods["DPO-BC"] = Method("DPO-BC", "bridged", "dpo", bmc_weights=False)
    methods["DPO-MC"] = Method("DPO-MC", "original", "dpo", bmc_weights=True)
    # FIGA learns from an LLM-revised response against the original one, i.e. bridged pairs.
    methods["FIGA"] = Method("FIGA", "bridged", "figa", bmc_weights=False)
    methods["TDPO"] = Method("TDPO", "original", "tdpo", bmc_weights=False)
    return methods


METHODS: dict[str, Method] = _registry()


def get_method(name: str) -> Method:
    """The registered method of a run's method name (`DPO-BMC`, `DPO-BMC@inverse`, ...), under that name; an
    unknown or malformed name raises ValueError saying why (listing the valid methods)."""
    return replace(METHODS[parse_method_name(name).base], name=name)


def uses_bridged_data(name: str) -> bool:
    return get_method(name).data == "bridged"


RELEASED = "released"  # the authors' released bridged pairs: a source of pairs rather than a strategy we run
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
