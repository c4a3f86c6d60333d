"""The preference-training methods of the paper, by name. Imports nothing heavy (the Snakefile reads it).

A method is a training-data choice, a base objective and whether BMC confidence weights are on.
"-BC" trains on bridged pairs (pseudo-winning ỹ_w vs y_l), "-MC" weights varied tokens by the model's
confidence, "-BMC" does both. The objectives (`LOSSES`: DPO, IPO, R-DPO, SimPO, ORPO, FIGA, TDPO), each
formula above its function, are in `bmc.alignment.objective`.

A method on bridged data may name the bridging strategy of its pairs after "@" (Table 3), e.g.
`DPO-BMC@inverse` trains DPO-BMC on pairs whose loser was degraded from y_w; without it the config's
`bridge.strategy` is used. A named editor of the config's `table4_editors` may follow after "+"
(Table 4), e.g. `DPO-BMC@targeted+llama3_70b`; without it the config's `bridge.editor` made the pairs.
`@released` names the authors' own GPT-4-bridged pairs (`bmc.data.released_pairs`), which take no editor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bmc.bridging.prompts import STRATEGIES  # light: no torch

DATA_KINDS = ("original", "bridged")
LOSSES = ("dpo", "ipo", "rdpo", "simpo", "orpo", "figa", "tdpo")
REFERENCE_FREE = frozenset({"simpo", "orpo", "figa"})
RELEASED = "released"  # the authors' released bridged pairs, a source of pairs rather than a strategy we run


@dataclass(frozen=True)
class Method:
    name: str
    data: str  # "original" | "bridged"
    loss: str  # one of LOSSES
    bmc_weights: bool
    strategy: str | None = None  # bridging strategy of the pairs (None: the config's)
    editor: str | None = None  # named editor of the pairs (None: the config's bridge.editor)

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


def _registry() -> dict[str, Method]:
    methods = {}
    for base, loss in BASES.items():
        methods[base] = Method(base, "original", loss, bmc_weights=False)
        methods[f"{base}-BMC"] = Method(f"{base}-BMC", "bridged", loss, bmc_weights=True)
    methods["DPO-BC"] = Method("DPO-BC", "bridged", "dpo", bmc_weights=False)
    methods["DPO-MC"] = Method("DPO-MC", "original", "dpo", bmc_weights=True)
    # FIGA learns from an LLM-revised response against the original one, i.e. bridged pairs.
    methods["FIGA"] = Method("FIGA", "bridged", "figa", bmc_weights=False)
    methods["TDPO"] = Method("TDPO", "original", "tdpo", bmc_weights=False)
    return methods


METHODS: dict[str, Method] = _registry()


EDITOR_NAME = re.compile(r"[A-Za-z0-9_-]+")


def get_method(name: str) -> Method:
    """The registered method `name` (or `name@strategy`, `name@strategy+editor`); an unknown name raises
    ValueError listing the valid ones."""
    base, _, bridging = name.partition("@")
    if base not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    method = METHODS[base]
    if not bridging:
        return method
    strategy, plus, editor = bridging.partition("+")
    if strategy not in STRATEGIES and strategy != RELEASED:
        valid = sorted([*STRATEGIES, RELEASED])
        raise ValueError(f"unknown bridging strategy in {name!r}; expected one of {valid}")
    if plus and strategy == RELEASED:
        raise ValueError(f"the released pairs come with their own editor, so {name!r} may not name one")
    if plus and not EDITOR_NAME.fullmatch(editor):
        raise ValueError(f"editor name in {name!r} must be letters, digits, '_' or '-'")
    if method.data != "bridged":
        raise ValueError(f"{base} trains on the original pairs, so it takes no bridging strategy ({name!r})")
    return replace(method, name=name, strategy=strategy, editor=editor or None)


def pairs_variant(method: Method, default_strategy: str) -> str:
    """The bridged pairs' folder name of a method: its strategy, with `+editor` for a named editor."""
    strategy = method.strategy or default_strategy
    return f"{strategy}+{method.editor}" if method.editor else strategy


def uses_bridged_data(name: str) -> bool:
    return get_method(name).data == "bridged"
