"""Editors: one interface for every LLM call of the bridging phase (chat messages in, text out).

- `hf`:     a local transformers model (its chat template, batched generation)
- `vllm`:   the same through vLLM (offline batch)
- `openai`: any OpenAI-compatible endpoint (OpenAI, a vLLM server, ...); key from an environment variable,
            retries with exponential backoff on 429/5xx/timeouts (the client's), bounded concurrency.
Each editor counts requests and prompt/completion tokens (for the cost of the bridging phase).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from bmc.generation.backends import GenerationParams, load_generator

GENERATION_KEYS = {"max_new_tokens", "temperature", "top_p", "seed", "batch_size"}


class Editor:
    def __init__(self):
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def complete(self, requests: list[list[dict]]) -> list[str]:
        raise NotImplementedError


def generation_settings(config: dict) -> dict:
    gen = {k: config[k] for k in GENERATION_KEYS if k in config and k != "batch_size"}
    gen["do_sample"] = float(config.get("temperature", 0.0)) > 0
    if not gen["do_sample"]:
        gen.pop("temperature", None)
    return gen


def editor_identity(config: dict, base_model: str | None) -> dict:
    """What determines an editor's output (for the cache key): kind, model and decoding settings."""
    kind = config["kind"]
    if kind == "openai":
        settings = {
            "max_new_tokens": int(config.get("max_new_tokens", 1024)),
            "temperature": float(config.get("temperature", 0.0)),
        }
        return {
            "kind": kind,
            "model": config["model"],
            "base_url": config.get("base_url"),
            "params": sorted(settings.items()),
        }
    return {
        "kind": kind,
        "model": resolve_model(config, base_model),
        "params": sorted(generation_settings(config).items()),
    }


def resolve_model(config: dict, base_model: str | None) -> str:
    model = config.get("model")
    if model in (None, "base"):
        if not base_model:
            raise ValueError("bridge.editor.model is 'base' but no --base-model was given")
        return str(base_model)
    return str(model)


class LocalEditor(Editor):
    """A local model through bmc.generation (transformers or vLLM), prompts rendered by its chat template."""

    def __init__(self, model_path: str, config: dict, backend: str):
        super().__init__()
        gen = {**generation_settings(config), "batch_size": int(config.get("batch_size", 16))}
        self.params = GenerationParams.from_dict({**gen, "backend": backend})
        self.generator = load_generator(model_path, self.params)
        self.tokenizer = self.generator.tokenizer

    def complete(self, requests):
        prompts = [
            self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
            for m in requests
        ]
        outputs = self.generator.generate(prompts)
        self.usage["requests"] += len(prompts)
        self.usage["prompt_tokens"] += sum(
            len(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts
        )
        self.usage["completion_tokens"] += sum(
            len(self.tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs
        )
        return outputs


class OpenAIEditor(Editor):
    """Chat completions from an OpenAI-compatible endpoint; checks the key and the endpoint before any work."""

    def __init__(self, config: dict):
        super().__init__()
        from openai import OpenAI

        key_env = config.get("api_key_env", "OPENAI_API_KEY")
        key = os.environ.get(key_env)
        if not key:
            raise RuntimeError(
                f"bridge.editor.kind is openai but the environment variable {key_env} is not set"
            )
        self.model = config["model"]
        self.max_tokens = int(config.get("max_new_tokens", 1024))
        self.temperature = float(config.get("temperature", 0.0))
        self.concurrency = int(config.get("max_concurrency", 8))
        self.client = OpenAI(
            base_url=config.get("base_url"),
            api_key=key,
            max_retries=int(config.get("max_retries", 6)),
            timeout=float(config.get("timeout_s", 120)),
        )
        try:
            self.client.with_options(max_retries=1).models.list()
        except Exception as e:  # noqa: BLE001 - any failure here means no work can be done
            raise RuntimeError(
                f"editor endpoint {config.get('base_url') or 'api.openai.com'} is not usable: {type(e).__name__}: {e}"
            ) from None

    def _one(self, messages):
        reply = self.client.chat.completions.create(
            model=self.model, messages=messages, max_tokens=self.max_tokens, temperature=self.temperature
        )
        return reply.choices[0].message.content or "", reply.usage

    def complete(self, requests):
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(self._one, requests))
        for _, usage in results:
            self.usage["requests"] += 1
            if usage is not None:
                self.usage["prompt_tokens"] += usage.prompt_tokens or 0
                self.usage["completion_tokens"] += usage.completion_tokens or 0
        return [text for text, _ in results]


def make_editor(config: dict, base_model: str | None) -> Editor:
    kind = config["kind"]
    if kind == "openai":
        return OpenAIEditor(config)
    if kind in ("hf", "vllm"):
        return LocalEditor(
            resolve_model(config, base_model), config, backend="transformers" if kind == "hf" else "vllm"
        )
    raise ValueError(f"unknown editor kind {kind!r}; expected hf, vllm or openai")
