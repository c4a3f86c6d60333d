"""One interface for every LLM call, the bridging phase's editor and the instruction-following judge
(chat messages in, text out), chosen by the config's `kind`:

- `hf`:     a local transformers model (its chat template, batched generation via bmc.generation)
- `vllm`:   the same through vLLM (offline batch)
- `openai`: any OpenAI-compatible endpoint (OpenAI, a vLLM server, ...; `bmc.llm.endpoint`): the key comes
            from the environment variable named by `api_key_env`; every reply is validated, bad ones are
            retried with backoff (`max_retries`, `backoff_s`, 429 waits as long as Retry-After says, within a
            cap) and a request that still fails comes back as a failed `Reply` with its reason (only a
            refused key, an unknown model or an endpoint that is down stops the stage at once).
`ChatClient.ask` hands each reply over as soon as it is in (the cache stores it at once), every reply of a
batch even when storing one of them fails, and writes every attempt to the ledger (`bmc.llm.ledger`) when one
is attached. Each client also counts its requests and
prompt/completion tokens (`usage`). `section` names the config section (`bridge.editor`, `judge`) in errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bmc.config import CLIENT_OPTIONS, Decoding
from bmc.data.prompt_format import render_chat
from bmc.io import model_fingerprint  # noqa: F401 - part of this module's interface

LOCAL_KINDS = {"hf": "transformers", "vllm": "vllm"}
GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed")
# the keys of each kind's config: its options, typed in bmc.config (CLIENT_OPTIONS, Client)
CLIENT_KEYS = {kind: {"kind", *options} for kind, options in CLIENT_OPTIONS.items()}


@dataclass(frozen=True)
class Reply:
    """A model's answer to one request: `text`, or None and `error` (a fixed reason) when it failed;
    `finish_reason` when an endpoint says the text was cut (`length`) or filtered (`content_filter`)."""

    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


class ChatClient:
    """`complete(requests)`: one text (or `Reply`) per chat request, in order; `usage` counts the work done;
    `ask` answers keyed requests and hands each reply to a callback as soon as it is in."""

    name = ""  # the model, as the ledger names it

    def __init__(self) -> None:
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.ledger = None  # a bmc.llm.ledger.Ledger, attached by the caller

    def complete(self, requests: list[list[dict]]) -> list[str | Reply]:
        raise NotImplementedError

    def ask(
        self, requests: dict[str, list[dict]], on_reply: Callable[[str, Reply], None], chunk: int = 16
    ) -> None:
        """Answer every request (cache key -> messages) by `complete` calls of `chunk` requests; each reply goes
        to `on_reply(key, reply)` as soon as its call returns, and every request to the ledger. When `on_reply`
        fails (a full disk), the rest of the batch is still handed over before the first error is raised."""
        keys = list(requests)
        for start in range(0, len(keys), chunk):
            batch = keys[start : start + chunk]
            sent = [self.ledger.sent(k, self.name) for k in batch] if self.ledger else []
            began = time.monotonic()
            outputs = self.complete([requests[k] for k in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"model returned {len(outputs)} outputs for {len(batch)} requests")
            seconds = (time.monotonic() - began) / len(batch)
            errors = []
            for i, (key, out) in enumerate(zip(batch, outputs, strict=True)):
                reply = out if isinstance(out, Reply) else Reply(out)
                try:
                    if sent:
                        outcome = "ok" if reply.text is not None else str(reply.error)
                        tokens = (reply.prompt_tokens, reply.completion_tokens)
                        self.ledger.done(sent[i], key, outcome, None, *tokens, seconds)
                    on_reply(key, reply)
                except Exception as e:  # the batch's other replies are stored first
                    errors.append(e)
            if errors:
                raise errors[0]


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


def reply_token_limit(config: dict) -> int:
    """The most tokens a reply may have: `max_new_tokens`, or the default each kind sends."""
    if config["kind"] == "openai":
        return openai_settings(config)["max_tokens"]
    return int(config.get("max_new_tokens", Decoding.model_fields["max_new_tokens"].default))


def resolve_model(config: dict, base_model: str | None, section: str = "bridge.editor") -> str:
    """The client's model: `base` means the --base-model folder."""
    model = config.get("model")
    if model == "base":
        if not base_model:
            raise ValueError(f"{section}.model is 'base' but no --base-model was given")
        return str(base_model)
    return str(model)


def client_identity(config: dict, base_model: str | None, section: str = "bridge.editor") -> dict:
    """What determines a client's output (part of the cache key): kind, model and decoding settings.
    An endpoint's address is not part of it: moving a server to another host or port keeps its cache."""
    kind = config["kind"]
    if kind == "openai":
        return {"kind": kind, "model": config["model"], "params": sorted(openai_settings(config).items())}
    model = resolve_model(config, base_model, section)
    return {
        "kind": kind,
        "model": model,
        "fingerprint": model_fingerprint(model),
        "params": sorted(generation_settings(config).items()),
    }


def legacy_identity(config: dict) -> dict | None:
    """An endpoint's identity as older cache keys spelled it (with `base_url`), to keep those entries readable."""
    if config["kind"] != "openai":
        return None
    return {**client_identity(config, None), "base_url": config.get("base_url")}


class LocalClient(ChatClient):
    """A local model through bmc.generation (transformers or vLLM), prompts rendered by its chat template."""

    def __init__(self, model_path: str, config: dict, backend: str):
        from bmc.generation.backends import GenerationParams, load_generator

        super().__init__()
        self.name = str(model_path)
        gen = {**generation_settings(config), "batch_size": int(config.get("batch_size", 16))}
        for key in (
            "max_batch_tokens",
            "enforce_eager",
        ):  # how, not what, it answers: not in the cache identity
            if config.get(key) is not None:
                gen[key] = config[key]
        self.params = GenerationParams.model_validate({**gen, "backend": backend})
        self.generator = load_generator(model_path, self.params)
        self.tokenizer = self.generator.tokenizer
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"model {model_path} has no chat template; use an instruction-tuned model")

    def _counts(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def complete(self, requests: list[list[dict]]) -> list[Reply]:
        prompts = [render_chat(self.tokenizer, m) for m in requests]
        outputs = self.generator.generate(prompts)
        prompt_tokens, completion_tokens = self._counts(prompts), self._counts(outputs)
        self.usage["requests"] += len(prompts)
        self.usage["prompt_tokens"] += sum(prompt_tokens)
        self.usage["completion_tokens"] += sum(completion_tokens)
        return [
            Reply(text, None, p, c)
            for text, p, c in zip(outputs, prompt_tokens, completion_tokens, strict=True)
        ]


def request_chunk(config: dict) -> int:
    """Requests per `complete` call of a local model (its batch); an endpoint's requests run in a sliding
    window of `max_concurrency` instead, and each reply is cached the moment it arrives."""
    if config["kind"] == "openai":
        return 4 * int(config.get("max_concurrency", 8))
    return int(config.get("batch_size", 16))
