"""The preference-training methods of the paper, by name. Imports nothing heavy (the Snakefile reads it).

"-BC" trains on bridged pairs (pseudo-winning ỹ_w vs y_l), "-MC" weights varied tokens by the model's
confidence, "-BMC" does both. Objectives:
- dpo:   -log σ(β[(log π(y_w) - log π_ref(y_w)) - (log π(y_l) - log π_ref(y_l))])       (Rafailov et al. 2023)
- ipo:   ((Δ_w/|y_w| - Δ_l/|y_l|) - 1/(2β))²  with Δ = log π - log π_ref            (Azar et al. 2024)
- rdpo:  -log σ(β[Δ_w - Δ_l] - α(|y_w| - |y_l|))                                         (Park et al. 2024)
- simpo: -log σ(β[log π(y_w)/|y_w| - log π(y_l)/|y_l|] - γ), no reference           (Meng et al. 2024)
- orpo:  -log π(y_w)/|y_w| - λ log σ(log odds(y_w) - log odds(y_l)), no reference   (Hong et al. 2024)
With BMC weights, every log π above is the weighted sum Σ_t λ_t log p_t (the reference's with its own p_t).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    objective: str  # dpo | ipo | rdpo | simpo | orpo
    bridged_data: bool
    bmc_weights: bool

    @property
    def needs_reference(self) -> bool:
        return self.objective not in {"simpo", "orpo"}


BASES = {"DPO": "dpo", "IPO": "ipo", "R-DPO": "rdpo", "SimPO": "simpo", "ORPO": "orpo"}


def _registry() -> dict[str, Method]:
    methods = {}
    for base, objective in BASES.items():
        methods[base] = Method(base, objective, bridged_data=False, bmc_weights=False)
        methods[f"{base}-BMC"] = Method(f"{base}-BMC", objective, bridged_data=True, bmc_weights=True)
    methods["DPO-BC"] = Method("DPO-BC", "dpo", bridged_data=True, bmc_weights=False)
    methods["DPO-MC"] = Method("DPO-MC", "dpo", bridged_data=False, bmc_weights=True)
    return methods


METHODS = _registry()


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def uses_bridged_data(name: str) -> bool:
    return get_method(name).bridged_data
