"""The rehearsal's side of a Snakemake run: its stand-ins before the config is checked, and for the length of the
run an OpenAI-compatible server on loopback that answers the GPT-4 editor, the Arena-Hard judge and AlpacaEval's
annotator (`workflow/rules/rehearsal.smk` calls these).

The server listens on a free port of 127.0.0.1; the jobs reach it through the environment they inherit from
Snakemake (`OPENAI_BASE_URL`, which the suite's endpoint and the openai library read when a client gives no
`base_url`, and a throw-away `OPENAI_API_KEY`). It stops with the run, and on its own if the run dies.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bmc.config import ArenaHardPrompt, Rehearsal, Release
from bmc.rehearsal.fixtures import prepare

SERVER = "bmc.standin.openai_server"  # the stand-in OpenAI-compatible server (its --help lists its options)
STARTUP_S = 60.0


def setup(config: dict) -> Server | None:
    """For a config with a `rehearsal` section: its stand-ins built (once) and the config values they fill in
    set (the url, commit and manifest of the release and of Arena-Hard's judge prompt), and the run's server,
    not yet started. None for any other config."""
    if config.get("rehearsal") is None:
        return None
    settings = Rehearsal.model_validate(config["rehearsal"])
    sections = {"release": (config, Release)}
    judge = config.get("judge") or {}
    if judge.get("arena_hard_prompt") is not None:
        sections["arena_hard_prompt"] = (judge, ArenaHardPrompt)
    # the shipped manifests (the config's `resources` may be the rehearsal's copy of them, not built yet)
    manifests = {
        name: kind.model_validate(parent.get(name) or {}).manifest_path(None)
        for name, (parent, kind) in sections.items()
    }
    for name, values in prepare(settings.folder, manifests).items():
        parent = sections[name][0]
        parent[name] = {**(parent.get(name) or {}), **values}
    return Server(settings.folder)


class Server:
    """The stand-in server of one Snakemake run."""

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        port_file = self.folder / "server.port"
        port_file.unlink(missing_ok=True)
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - kept open for the server's life
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                SERVER,
                "--port",
                "0",
                "--port-file",
                str(port_file),
                "--parent-pid",
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_S
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the rehearsal's stand-in server did not start; see {self.folder / 'server.log'}"
                )
            time.sleep(0.1)
        url = f"http://127.0.0.1:{int(port_file.read_text())}/v1"
        key = secrets.token_urlsafe(16)  # never a real key: every call of the run stays on this machine
        os.environ.update({"OPENAI_BASE_URL": url, "OPENAI_API_BASE": url, "OPENAI_API_KEY": key})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
