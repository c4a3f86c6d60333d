"""The client a config names (`make_client`), and a stage's factory of clients (`ClientFactory`), which first
starts the server of a served model (`bmc.llm.server`). Above the clients, the endpoint and the server, so none of
them imports another's caller."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from bmc.llm.clients import LOCAL_KINDS, ChatClient, LocalClient, check_client_config, resolve_model
from bmc.llm.endpoint import OpenAIClient
from bmc.llm.server import running_server, served


def make_client(
    config: dict, base_model: str | None, section: str = "bridge.editor", labels: list[str] | None = None
) -> ChatClient:
    """The client named by `config["kind"]` (checked with `check_client_config`); with `labels`, a local
    transformers model that replies with the most likely of them (`bmc.llm.label_choice`)."""
    check_client_config(config, section)
    if labels is not None and config["kind"] != "hf":
        raise ValueError(f"{section}: choosing among labels needs kind hf, not {config['kind']}")
    if config["kind"] == "openai":
        return OpenAIClient(config, section)
    model = resolve_model(config, base_model, section)
    if labels is not None:
        from bmc.llm.label_choice import LabelChoiceClient

        return LabelChoiceClient(model, config, labels)
    return LocalClient(model, config, backend=LOCAL_KINDS[config["kind"]])


class ClientFactory:
    """`make_client` for a stage, as a context: a served client's server starts at the first call (made only
    when some request is not cached) and stops when the context ends."""

    def __init__(
        self,
        config: dict,
        base_model: str | None,
        section: str,
        server_log: str | Path,
        labels: list[str] | None = None,
    ):
        self.config, self.base_model, self.section, self.server_log = config, base_model, section, server_log
        self.labels = labels  # `make_client`'s: a local judge choosing among them
        self._stack = ExitStack()

    def __enter__(self) -> ClientFactory:
        return self

    def __exit__(self, *exc) -> bool:
        return self._stack.__exit__(*exc)

    def __call__(self) -> ChatClient:
        config = self.config
        if not served(config):
            return make_client(config, self.base_model, self.section, self.labels)
        config = self._stack.enter_context(running_server(config, self.server_log, self.section))
        client = make_client(config, self.base_model, self.section)
        client.billed = False  # its own server: a stop need not wait for the replies in flight
        return client
