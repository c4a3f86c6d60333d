"""What a method module declares (`bmc/alignment/methods/<name>.py`, one module per objective; the registry
finds every module of that folder: docs/adding-a-method.md).

A module defines `METHOD = Objective(...)`: its name, its loss on the per-pair terms the trainer computes
(`bmc.alignment.objective.PairTerms`), its own hyperparameters with their types and defaults, which of BMC's
variants it is trained in (`-BC` bridged pairs, `-MC` confidence weights, `-BMC` both) and which method it is
compared with. Imports nothing heavy: the Snakefile reads the declarations when it is parsed, so a module
imports torch inside its loss function, which runs in a training job only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DATA_KINDS = ("original", "bridged")
# a variant's suffix -> (data, bmc_weights) of the method it names
VARIANTS = {"BC": ("bridged", False), "MC": ("original", True), "BMC": ("bridged", True)}
# how a method's implicit reward (logged accuracies and margins) is read from the per-pair terms
REWARDS = ("log_ratio", "length_normalised", "policy")
# a method's token weights: 1 (BMC's λ_t under -MC/-BMC), or FIGA's diff masks (m_t, ½ m_t on rejected)
TOKEN_WEIGHTS = ("confidence", "diff_mask")
HYPERPARAMETER_TYPES = (float, int, bool, str)
NAME = r"[A-Za-z][A-Za-z0-9-]*"  # a method name (no `@`: that starts a bridging strategy)


@dataclass(frozen=True)
class Hyperparameter:
    """A hyperparameter of a method's loss: its type, default and allowed values; given in a config under
    `train.method_params.<method>.<name>`, read by the loss as `hp.params[<name>]`. A default of None means
    "derived from other settings" (R-DPO's α = -β): the loss resolves it, and a config may give None too."""

    type: type
    default: Any
    help: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` is not a valid setting (None if it is); a float takes an int, a bool nothing but a bool."""
        kind = self.type
        if kind not in HYPERPARAMETER_TYPES:
            return f"has type {kind!r}, not one of {[t.__name__ for t in HYPERPARAMETER_TYPES]}"
        if value is None and self.default is None:
            return None
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok and isinstance(value, str):  # a number nested in a --config value arrives as a string
            return f"{value!r} is a string, not a {kind.__name__}: give it unquoted, in a config file"
        if not ok:
            return f"{value!r} is not a {kind.__name__}"
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {list(self.choices)}"
        for bound, holds, words in (
            (self.ge, lambda b: value >= b, ">="),
            (self.gt, lambda b: value > b, ">"),
            (self.le, lambda b: value <= b, "<="),
            (self.lt, lambda b: value < b, "<"),
        ):
            if bound is not None and not holds(bound):
                return f"{value!r} is not {words} {bound}"
        return None


@dataclass(frozen=True)
class Objective:
    """A method's declaration. `loss(terms, hp)` returns the (batch,) per-pair losses from the per-pair terms
    (`PairTerms`: the policy's and reference's sequence log-prob sums, BMC-weighted under -MC/-BMC, and the
    response lengths) and the hyperparameters (`bmc.alignment.objective.Hyperparameters`: β, ..., and this
    method's own in `hp.params`)."""

    name: str
    loss: Callable
    data: str = "original"  # the pairs the method itself trains on (FIGA: bridged)
    variants: tuple[str, ...] = ()  # of VARIANTS, each registered as `<name>-<variant>`
    baseline: str | None = None  # the method it is compared with in Table 1 (paired tests and power)
    ablations: bool = False  # Table 1 also compares each variant with it (the paper's study of DPO)
    hyperparameters: Mapping[str, Hyperparameter] = field(default_factory=dict)
    reference: bool = True  # reads a reference model's sums (False: reference-free, as SimPO)
    distributions: bool = False  # reads both models' full next-token distributions at every step (TDPO)
    reward: str = "log_ratio"  # of REWARDS
    token_weights: str = "confidence"  # of TOKEN_WEIGHTS

    def problems(self) -> list[str]:
        """What is wrong with the declaration, one line each (empty if nothing)."""
        out = []
        if not isinstance(self.name, str) or not re.fullmatch(NAME, self.name):
            out.append(f"name {self.name!r} must be letters, digits and '-', starting with a letter")
        if not callable(self.loss):
            out.append(f"loss must be a function loss(terms, hp), got {self.loss!r}")
        if self.data not in DATA_KINDS:
            out.append(f"data must be one of {DATA_KINDS}, got {self.data!r}")
        if not isinstance(self.variants, tuple) or not set(self.variants) <= set(VARIANTS):
            out.append(f"variants must be a tuple of {tuple(VARIANTS)}, got {self.variants!r}")
        if self.reward not in REWARDS:
            out.append(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.token_weights not in TOKEN_WEIGHTS:
            out.append(f"token_weights must be one of {TOKEN_WEIGHTS}, got {self.token_weights!r}")
        if self.distributions and not self.reference:
            out.append("distributions needs a reference model (reference=True)")
        if not isinstance(self.hyperparameters, Mapping):
            out.append("hyperparameters must map names to Hyperparameter(...)")
        else:
            for key, spec in self.hyperparameters.items():
                if not isinstance(spec, Hyperparameter):
                    out.append(f"hyperparameters[{key!r}] must be a Hyperparameter(...), got {spec!r}")
                elif problem := spec.problem(spec.default):
                    out.append(f"hyperparameters[{key!r}]: the default {problem}")
        return out

    def method_names(self) -> dict[str, tuple[str, bool]]:
        """Each method this declaration registers -> (its data, whether it takes BMC weights)."""
        return {self.name: (self.data, False)} | {f"{self.name}-{v}": VARIANTS[v] for v in self.variants}

    def resolve(self, given: Mapping[str, Any], method: str | None = None) -> dict[str, Any]:
        """Its hyperparameters: the defaults with `given` on top; ValueError naming the key for an unknown
        name or an invalid value."""
        where = method or self.name
        unknown = sorted(set(given) - set(self.hyperparameters))
        if unknown:
            valid = sorted(self.hyperparameters) or "none"
            raise ValueError(f"{where}: unknown hyperparameters {unknown}; it declares {valid}")
        out = {}
        for key, spec in self.hyperparameters.items():
            value = given.get(key, spec.default)
            problem = spec.problem(value)
            if problem:
                raise ValueError(f"{where}.{key}: {problem}")
            out[key] = value
        return out
