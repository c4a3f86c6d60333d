"""The preference-training methods of the paper, by name. Imports nothing heavy (the Snakefile reads it).

A method is a training-data choice, a base objective and whether BMC confidence weights are on.
"-BC" trains on bridged pairs (pseudo-winning ỹ_w vs y_l), "-MC" weights varied tokens by the model's
confidence, "-BMC" does both. Objectives (Δ = log π - log π_ref, |y| = response tokens):
- dpo:   -log σ(β[Δ_w - Δ_l])                                                   (Rafailov et al. 2023)
- ipo:   (Δ_w/|y_w| - Δ_l/|y_l| - 1/(2β))²                                      (Azar et al. 2024; per-token
         normalisation as in TRL and the released BMC code)
- rdpo:  -log σ(β[Δ_w - Δ_l] + α(|y_w| - |y_l|))                                (Park et al. 2024, Eq. 9);
         by default α = -β, the released BMC code's -log σ(β[Δ_w - Δ_l - (|y_w| - |y_l|)])
- simpo: -log σ(β[log π(y_w)/|y_w| - log π(y_l)/|y_l|] - γ), no reference        (Meng et al. 2024)
- orpo:  NLL(y_w) - λ log σ(log odds(y_w) - log odds(y_l)), odds on per-token averages, NLL
         the mean over the batch's chosen tokens, λ = β by default as in the released code and TRL,
         no reference                                                             (Hong et al. 2024)
- figa:  -Σ_t m_t log p_t(ỹ_w) + ½ Σ_t m_t log p_t(y_l) over varied tokens only, no
         reference; the released BMC code's form of FIGA                          (Guo et al. 2024)
- tdpo:  -log σ(β[Δ_w - Δ_l] - α·β[D_l - sg(D_w)]), D(y) = Σ_t KL(π_ref(·|x,y_<t) ‖ π_θ(·|x,y_<t)),
         TDPO2 with α = 0.5; needs both models' full next-token distributions at every step, so its
         reference cannot be precomputed                                          (Zeng et al. 2024)
With BMC weights, every log π above is the weighted sum Σ_t λ_t log p_t (the reference's with its own p_t).

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
