"""The preference-training methods of the paper, by name. Imports nothing heavy (the Snakefile reads it).

A method is a training-data choice, a base objective and whether BMC confidence weights are on.
"-BC" trains on bridged pairs (pseudo-winning ỹ_w vs y_l), "-MC" weights varied tokens by the model's
confidence, "-BMC" does both. The objectives (`LOSSES`: DPO, IPO, R-DPO, SimPO, ORPO, FIGA, TDPO), each
formula above its function, are in `bmc.alignment.objective`.

A run's method name may say which bridged pairs a method on bridged data trains on, e.g. `DPO-BMC@inverse`
(Table 3) or `DPO-BMC@targeted+llama3_70b` (Table 4); the grammar of those names is bmc.plan's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    from bmc.plan import parse_method_name  # bmc.plan imports this registry

    return replace(METHODS[parse_method_name(name).base], name=name)


def uses_bridged_data(name: str) -> bool:
    return get_method(name).data == "bridged"
