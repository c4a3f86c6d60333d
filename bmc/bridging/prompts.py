"""Bridging prompts (Table 3's synthesis strategies), one versioned template file each.

- targeted:        y_l → ỹ_w with y_w as reference (BMC)      edits `chosen`
- targeted_no_ref: y_l → ỹ_w without y_w                         edits `chosen`
- inverse:         y_w → ỹ_l (degrade the winner)                edits `rejected`
- free:            a freshly written winner, y_w as reference    edits `chosen`
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

STRATEGIES = {"targeted": "chosen", "targeted_no_ref": "chosen", "inverse": "rejected", "free": "chosen"}


@dataclass(frozen=True)
class Template:
    strategy: str
    version: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.strategy}_{self.version}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def replaces(self) -> str:
        """Which side of the pair the editor's output replaces."""
        return STRATEGIES[self.strategy]

    def render(self, pair: dict) -> list[dict]:
        """Chat messages (one user turn) asking the editor for this pair's new response."""
        question = next(m["content"] for m in pair["prompt"] if m["role"] == "user")
        text = self.text.format(question=question, chosen=pair["chosen"], rejected=pair["rejected"])
        return [{"role": "user", "content": text}]


def load_template(strategy: str, version: str = "v1") -> Template:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown bridging strategy {strategy!r}; expected one of {sorted(STRATEGIES)}")
    path = resources.files("bmc.bridging").joinpath("templates", f"{strategy}_{version}.txt")
    if not path.is_file():
        raise FileNotFoundError(f"no template {strategy}_{version}.txt in bmc/bridging/templates")
    return Template(strategy, version, path.read_text(encoding="utf-8"))
