"""One interface for every LLM call, the bridging phase's editor and the instruction-following judge
(chat messages in, text out), chosen by the config's `kind`:

- `hf`:     a local transformers model (its chat template, batched generation via bmc.generation)
- `vllm`:   the same through vLLM (offline batch)
- `openai`: any OpenAI-compatible endpoint (OpenAI, a vLLM server, ...); the key comes from the environment
            variable named by `api_key_env`; the client retries 408/409/429/5xx, connection errors and
            timeouts with exponential backoff (`max_retries`); requests run in a bounded thread pool.
Each client counts requests and prompt/completion tokens (the cost of a stage). `section` names the config
section (`bridge.editor`, `judge`) in error messages.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bmc.chat import render_chat
from bmc.generation.backends import GenerationParams, load_generator

LOCAL_KINDS = {"hf": "transformers", "vllm": "vllm"}
GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed")
CLIENT_KEYS = {
    "hf": {"kind", "model", "batch_size", "max_batch_tokens", *GENERATION_KEYS},
    "vllm": {"kind", "model", "batch_size", *GENERATION_KEYS},
    "openai": {
        "kind",
        "model",
        "base_url",
        "api_key_env",
        "max_new_tokens",
        "temperature",
        "top_p",
        "seed",
        "max_concurrency",
        "max_retries",
        "timeout_s",
    },
}


class ChatClient:
    """`complete(requests)`: one text per chat request, in order; `usage` counts the work done."""

    def __init__(self) -> None:
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def complete(self, requests: list[list[dict]]) -> list[str]:
        raise NotImplementedError


def check_client_config(config: dict, section: str = "bridge.editor") -> None:
    """Fail early on an unknown kind, a missing model or a misspelt option."""
    kind = config.get("kind")
    if kind not in CLIENT_KEYS:
        raise ValueError(f"{section}.kind must be one of {sorted(CLIENT_KEYS)}, got {kind!r}")
    if not config.get("model"):
        raise ValueError(f"{section}.model is required ('base', a model folder, or the endpoint's model id)")
    unknown = sorted(set(config) - CLIENT_KEYS[kind])
    if unknown:
        raise ValueError(
            f"unknown {section} option(s) {unknown} for kind {kind}; expected some of {sorted(CLIENT_KEYS[kind])}"
        )


def generation_settings(config: dict) -> dict:
    """Decoding options of a local model (greedy when temperature is 0 or absent)."""
    gen = {k: config[k] for k in GENERATION_KEYS if k in config}
    gen["do_sample"] = float(config.get("temperature", 0.0)) > 0
    if not gen["do_sample"]:
        gen.pop("temperature", None)
        gen.pop("top_p", None)
    return gen


def openai_settings(config: dict) -> dict:
    """Sampling options sent with every chat request."""
    out = {
        "max_tokens": int(config.get("max_new_tokens", 1024)),
        "temperature": float(config.get("temperature", 0.0)),
    }
    out.update({k: config[k] for k in ("top_p", "seed") if k in config})
    return out


def resolve_model(config: dict, base_model: str | None, section: str = "bridge.editor") -> str:
    """The client's model: `base` means the --base-model folder."""
    model = config.get("model")
    if model == "base":
        if not base_model:
            raise ValueError(f"{section}.model is 'base' but no --base-model was given")
        return str(base_model)
    return str(model)


def model_fingerprint(path: str | Path, samples: int = 64, chunk: int = 1 << 16) -> str | None:
    """sha256 over a local model's config and evenly spaced slices of its weight files; None for a hub id.

    Cheap even for 70B models, and a rebuilt or retrained model at the same path gets a new fingerprint.
    """
    path = Path(path)
    if not path.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.suffix in (".json", ".jinja", ".model"):  # config, tokenizer, chat template
            h.update(f.name.encode() + f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".pt"):
            size = f.stat().st_size
            h.update(f"{f.name}:{size}".encode())
            with open(f, "rb") as fh:
                for i in range(samples):
                    fh.seek(size * i // samples)
                    h.update(fh.read(chunk))
    return h.hexdigest()


def client_identity(config: dict, base_model: str | None, section: str = "bridge.editor") -> dict:
    """What determines a client's output (part of the cache key): kind, model and decoding settings."""
    kind = config["kind"]
    if kind == "openai":
        return {
            "kind": kind,
            "model": config["model"],
            "base_url": config.get("base_url"),
            "params": sorted(openai_settings(config).items()),
        }
    model = resolve_model(config, base_model, section)
    return {
        "kind": kind,
        "model": model,
        "fingerprint": model_fingerprint(model),
        "params": sorted(generation_settings(config).items()),
    }


class LocalClient(ChatClient):
    """A local model through bmc.generation (transformers or vLLM), prompts rendered by its chat template."""

    def __init__(self, model_path: str, config: dict, backend: str):
        super().__init__()
        gen = {**generation_settings(config), "batch_size": int(config.get("batch_size", 16))}
        if config.get("max_batch_tokens") is not None:  # batching only: not part of the cache identity
            gen["max_batch_tokens"] = config["max_batch_tokens"]
        self.params = GenerationParams.from_dict({**gen, "backend": backend})
        self.generator = load_generator(model_path, self.params)
        self.tokenizer = self.generator.tokenizer
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"model {model_path} has no chat template; use an instruction-tuned model")

    def _count(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"])

    def complete(self, requests: list[list[dict]]) -> list[str]:
        prompts = [render_chat(self.tokenizer, m) for m in requests]
        outputs = self.generator.generate(prompts)
        self.usage["requests"] += len(prompts)
        self.usage["prompt_tokens"] += self._count(prompts)
        self.usage["completion_tokens"] += self._count(outputs) if outputs else 0
        return outputs


class OpenAIClient(ChatClient):
    """Chat completions from an OpenAI-compatible endpoint; checks the key and the endpoint before any work."""

    def __init__(self, config: dict, section: str = "bridge.editor"):
        super().__init__()
        from openai import OpenAI

        key_env = config.get("api_key_env", "OPENAI_API_KEY")
        key = os.environ.get(key_env)
        if not key:
            raise RuntimeError(f"{section}.kind is openai but the environment variable {key_env} is not set")
        self._key = key
        self.model = config["model"]
        self.settings = openai_settings(config)
        self.concurrency = int(config.get("max_concurrency", 8))
        if self.concurrency < 1:
            raise ValueError(f"{section}.max_concurrency must be >= 1, got {self.concurrency}")
        self.client = OpenAI(
            base_url=config.get("base_url"),
            api_key=key,
            max_retries=int(config.get("max_retries", 6)),
            timeout=float(config.get("timeout_s", 120)),
        )
        self._preflight(f"{section} endpoint " + (config.get("base_url") or "https://api.openai.com/v1"))

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***")

    def _preflight(self, where: str) -> None:
        """One cheap request (list models): a refused key or an unreachable endpoint stops the stage here.
        An endpoint without a /models route (any other HTTP error) still counts as reachable."""
        import openai

        try:
            self.client.with_options(max_retries=1).models.list()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise RuntimeError(f"{where} refused the key: {self._redact(str(e))}") from None
        except openai.APIStatusError:
            pass
        except Exception as e:  # noqa: BLE001 - connection refused, DNS, timeout: no work can be done
            raise RuntimeError(
                f"{where} is not reachable: {type(e).__name__}: {self._redact(str(e))}"
            ) from None

    def _one(self, messages: list[dict]):
        reply = self.client.chat.completions.create(model=self.model, messages=messages, **self.settings)
        return reply.choices[0].message.content or "", reply.usage

    def complete(self, requests: list[list[dict]]) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(self._one, requests))
        for _, usage in results:
            self.usage["requests"] += 1
            if usage is not None:
                self.usage["prompt_tokens"] += usage.prompt_tokens or 0
                self.usage["completion_tokens"] += usage.completion_tokens or 0
        return [text for text, _ in results]


def request_chunk(config: dict) -> int:
    """Requests per `complete` call: a local model's batch, or 4 rounds of an endpoint's concurrency
    (outputs are cached after each call, so a killed run loses at most one chunk)."""
    if config["kind"] == "openai":
        return 4 * int(config.get("max_concurrency", 8))
    return int(config.get("batch_size", 16))


def make_client(config: dict, base_model: str | None, section: str = "bridge.editor") -> ChatClient:
    """The client named by `config["kind"]` (checked with `check_client_config`)."""
    check_client_config(config, section)
    if config["kind"] == "openai":
        return OpenAIClient(config, section)
    model = resolve_model(config, base_model, section)
    return LocalClient(model, config, backend=LOCAL_KINDS[config["kind"]])
