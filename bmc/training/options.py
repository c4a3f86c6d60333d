"""The trainer options a config's `sft` and `train` sections pass on to TRL, checked when the Snakefile is parsed
against what TRL's SFTConfig and the suite's BMCConfig take: `trainer_fields.json` lists each field's types, its
allowed values and its default, and the BMCConfig fields that must keep their default (written from the
installed TRL by scripts/trainer_fields.py, so that parsing imports no torch). A wrong value fails naming the
key and the value instead of when the job builds its trainer."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

# options each stage sets itself: a value given in the config would replace the stage's own
SET_BY_STAGE = {
    "sft": {
        "output_dir": "the stage sets it (the checkpoints beside the output folder)",
        "completion_only_loss": "set sft.loss_scope: completion instead",
    },
    "train": {
        "output_dir": "the stage sets it (the checkpoints beside the output folder)",
        "method": "each run's method comes from train.methods",
        "precompute_ref_log_probs": "set train.precompute_ref_logps instead",
    },
}
KIND_NAMES = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "null": "null",
    "dict": "a mapping",
    "false": "false",
    "list[str]": "a list of strings",
    "list[float]": "a list of numbers",
    "list[int]": "a list of integers",
    "list[any]": "a list",
}
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@cache
def trainer_fields() -> dict[str, dict]:
    """Per section (`sft`, `train`): the trainer config's name, its fields (types, choices, default) and, for
    `train`, the fields that must keep their default (`fixed`)."""
    return json.loads(Path(__file__).with_name("trainer_fields.json").read_text(encoding="utf-8"))


def kind_of(value: Any) -> str:
    """How YAML gave `value`: "a string", "an integer", ..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "a list"
    return {int: "an integer", float: "a number", str: "a string", dict: "a mapping", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def yaml_number_hint(value: Any, integer: bool = False) -> str:
    """For a string that reads as a number: YAML 1.1 (PyYAML, Snakemake) reads `5e-7` and `1.0e9` as text, a
    float needs a dot and a signed exponent (`5.0e-7`, `1.0e+9`); and a quoted number stays a string."""
    if not isinstance(value, str) or not NUMBER.fullmatch(value.strip()):
        return ""
    text = value.strip()
    if integer and float(text).is_integer():
        return f"; write {int(float(text))} (an integer, without quotes)"
    mantissa, _, exponent = text.lower().partition("e")
    if not exponent:
        return f"; write {text} without quotes"
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[0] not in "+-":
        exponent = "+" + exponent
    return f"; YAML reads {text} as a string (a number needs a dot and a signed exponent): write {mantissa}e{exponent}"


def _takes(kind: str, value: Any) -> bool:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    checks = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": is_number,
        "str": isinstance(value, str),
        "null": value is None,
        "dict": isinstance(value, dict),
        "false": value is False,
        "any": True,
    }
    if kind.startswith("list["):
        item = kind[5:-1]
        return isinstance(value, list) and all(_takes(item, v) for v in value)
    return checks[kind]


def problems(section: str, given: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, what is wrong) for each option in `given` that the section's trainer config does not take as it is:
    an unknown name, an option the stage sets, a BMCConfig option that must keep its default, a value of
    another type, or a value outside the field's allowed values."""
    spec = trainer_fields()[section]
    fields, fixed, config = spec["fields"], spec.get("fixed", {}), spec["config"]
    out = []
    for key, value in given.items():
        if key in SET_BY_STAGE[section]:
            out.append((key, f"{value!r} is not taken: {SET_BY_STAGE[section][key]}"))
        elif key in fixed:
            if value != fixed[key]["value"]:
                kept = json.dumps(fixed[key]["value"])
                out.append(
                    (key, f"{value!r} is refused: {fixed[key]['why']}; leave {key} out (it stays {kept})")
                )
        elif key in fields:
            field = fields[key]
            if not any(_takes(kind, value) for kind in field["types"]):
                expected = " or ".join(KIND_NAMES.get(k, k) for k in field["types"] if k != "any")
                hint = yaml_number_hint(value, integer="float" not in field["types"])
                out.append((key, f"{value!r} is {kind_of(value)}, but {config} takes {expected}{hint}"))
            elif field.get("choices") and isinstance(value, str) and value not in field["choices"]:
                out.append((key, f"{value!r} is not one of {config}'s values: {', '.join(field['choices'])}"))
    return out
