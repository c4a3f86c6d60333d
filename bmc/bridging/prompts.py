"""Bridging prompts (Table 3's synthesis strategies), one versioned template file each.

| strategy          | what the editor does                              | placeholders                | replaces   |
| ----------------- | ------------------------------------------------- | --------------------------- | ---------- |
| `targeted`        | y_l → ỹ_w, minimal edits, y_w as reference (BMC)  | question, chosen, rejected  | `chosen`   |
| `targeted_no_ref` | y_l → ỹ_w, minimal edits, without y_w             | question, rejected          | `chosen`   |
| `inverse`         | y_w → ỹ_l, degrade the winner                     | question, chosen            | `rejected` |
| `free`            | a freshly written winner, y_w for the facts       | question, chosen            | `chosen`   |

The first three edit a response (`Template.edits`: y_l, y_l, y_w); `free` writes a new one.

Templates live in `templates/<task>/<strategy>_<version>.txt` (task `qa`, `math` or `if`: the final-answer
line differs, and instruction following has none); a template must use exactly its strategy's placeholders (so that, e.g., `targeted_no_ref` can
never show y_w). Its name (task included), version and sha256 are part of the cache key, so editing a
template never serves stale outputs.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib import resources

# strategy -> (side of the pair the output replaces, placeholders of its template)
STRATEGIES: dict[str, tuple[str, frozenset[str]]] = {
    "targeted": ("chosen", frozenset({"question", "chosen", "rejected"})),
    "targeted_no_ref": ("chosen", frozenset({"question", "rejected"})),
    "inverse": ("rejected", frozenset({"question", "chosen"})),
    "free": ("chosen", frozenset({"question", "chosen"})),
}
# strategy -> the side of the pair whose response the editor edits (`free` writes a new one)
EDITED_SIDE: dict[str, str | None] = {
    "targeted": "rejected",
    "targeted_no_ref": "rejected",
    "inverse": "chosen",
    "free": None,
}


@dataclass(frozen=True)
class Template:
    strategy: str
    version: str
    text: str
    task: str = "qa"

    @property
    def name(self) -> str:
        return f"{self.task}/{self.strategy}_{self.version}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def instruction_lines(self) -> tuple[str, ...]:
        """The template's own lines (no placeholder, at least 12 characters, e.g. "Draft answer:"): an
        output holding one of them echoes the prompt."""
        lines = (line.strip() for line in self.text.splitlines())
        return tuple(line for line in lines if len(line) >= 12 and "{" not in line)

    @property
    def replaces(self) -> str:
        """Which side of the pair the editor's output replaces ("chosen" or "rejected")."""
        return STRATEGIES[self.strategy][0]

    @property
    def edits(self) -> str | None:
        """Which side's response the editor is asked to edit ("rejected" or "chosen"), or None (`free`)."""
        return EDITED_SIDE[self.strategy]

    def render(self, pair: dict) -> list[dict]:
        """Chat messages (one user turn) asking the editor for this pair's new response."""
        users = [m["content"] for m in pair["prompt"] if m.get("role") == "user"]
        if not users:
            raise ValueError(f"pair {pair.get('id')!r} has no user turn in its prompt")
        text = self.text.format(question=users[-1], chosen=pair["chosen"], rejected=pair["rejected"])
        return [{"role": "user", "content": text}]


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def template_path(strategy: str, version: str = "v1", task: str = "qa") -> str:
    """The template's path relative to the repository root (the workflow makes it a rule input)."""
    return f"bmc/bridging/templates/{task}/{strategy}_{version}.txt"


def load_template(strategy: str, version: str = "v1", task: str = "qa") -> Template:
    """The packaged template `<task>/<strategy>_<version>.txt`, checked against its strategy's placeholders."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown bridging strategy {strategy!r}; expected one of {sorted(STRATEGIES)}")
    path = resources.files("bmc.bridging").joinpath("templates", task, f"{strategy}_{version}.txt")
    if not path.is_file():
        raise FileNotFoundError(f"no template {task}/{strategy}_{version}.txt in bmc/bridging/templates")
    text = path.read_text(encoding="utf-8")
    expected = STRATEGIES[strategy][1]
    if (found := placeholders(text)) != expected:
        raise ValueError(
            f"template {path.name} uses placeholders {sorted(found)}; expected {sorted(expected)}"
        )
    return Template(strategy, version, text, task)
