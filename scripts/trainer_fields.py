"""Write bmc/training/trainer_fields.json: every field of TRL's SFTConfig (config section `sft`) and of the suite's
BMCConfig, TRL's DPOConfig (`train`), with the types and values it takes and its default, and the BMCConfig
fields that must stay at their default. `bmc.config` checks the trainer options of a config against it when
the Snakefile is parsed, without importing torch; tests/test_config.py keeps it equal to the installed TRL.

    python scripts/trainer_fields.py           # rewrite the file from the installed TRL
    python scripts/trainer_fields.py --check   # exit 1 if the file differs from it
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
import types
import typing
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "bmc" / "training" / "trainer_fields.json"
# BMCConfig refuses these unless at their default: the method sets the objective (bmc.alignment.trainer)
REPLACED_BY_METHOD = ("loss_type", "ld_alpha", "f_divergence_type")
SIMPLE = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null", dict: "dict"}


def _alternatives(annotation) -> tuple[list[str], list[str] | None]:
    """(the JSON kinds an annotation takes, the strings it allows or None for any): `SchedulerType | str`
    takes the enum's values (TrainingArguments converts the string and refuses others)."""
    options = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    kinds, choices = [], None
    for option in options:
        origin = typing.get_origin(option)
        if option in SIMPLE:
            kinds.append(SIMPLE[option])
        elif isinstance(option, type) and issubclass(option, enum.Enum):
            choices = [str(member.value) for member in option]
            kinds.append("str")
        elif origin is typing.Literal:
            kinds += ["false" if value is False else SIMPLE[type(value)] for value in typing.get_args(option)]
        elif origin is list:
            (item,) = typing.get_args(option) or (typing.Any,)
            kinds.append(f"list[{SIMPLE.get(item, 'any')}]")
        elif origin is dict:
            kinds.append("dict")
        else:  # a class given in code only (accelerate's ParallelismConfig)
            kinds.append("any")
    return list(dict.fromkeys(kinds)), choices


def _default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        value = field.default
    value = value.value if isinstance(value, enum.Enum) else value
    try:
        return json.loads(json.dumps(value))
    except TypeError:
        return None


def fields_of(config_cls) -> dict[str, dict]:
    hints = typing.get_type_hints(config_cls)
    out = {}
    for field in sorted(dataclasses.fields(config_cls), key=lambda f: f.name):
        kinds, choices = _alternatives(hints[field.name])
        choices = list(field.metadata.get("choices") or choices or []) or None
        out[field.name] = {"types": kinds, "default": _default(field)} | (
            {"choices": choices} if choices else {}
        )
    return out


def describe() -> dict:
    from trl import SFTConfig

    from bmc.alignment.trainer import IGNORED_TRL_OPTIONS, BMCConfig

    train = fields_of(BMCConfig)
    fixed = {
        name: {"value": train[name]["default"], "why": "the method sets the objective"}
        for name in REPLACED_BY_METHOD
    }
    fixed |= {
        name: {"value": value, "why": "BMCTrainer's loss and collation do not use it"}
        for name, value in IGNORED_TRL_OPTIONS.items()
    }
    return {
        "sft": {"config": "TRL's SFTConfig", "fields": fields_of(SFTConfig)},
        "train": {"config": "BMCConfig (TRL's DPOConfig)", "fields": train, "fixed": fixed},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs")
    args = p.parse_args()
    text = json.dumps(describe(), indent=1, sort_keys=True) + "\n"
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            sys.exit(f"{OUT} differs from the installed TRL: run python scripts/trainer_fields.py")
        return
    from bmc.io import write_text

    write_text(OUT, text)


if __name__ == "__main__":
    main()
