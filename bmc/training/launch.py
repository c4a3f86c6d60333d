"""`python -m bmc.training.launch --processes N [--accelerate-config FILE] -- ARGS...`: run `python ARGS...` on N
processes with `accelerate launch`, always with an explicit config file (a user's default accelerate config
never applies) and a free rendezvous port, so that several jobs can share a node. One process without a
config file runs plain `python ARGS...`. `BMC_WORLD_SIZE` tells the training stages how many processes were
asked for; they stop at once if they run on another number (`bmc.training.arguments.check_world_size`)."""

from __future__ import annotations

import argparse
import os
import socket
import sys


def free_port() -> int:
    """A TCP port free on this machine right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(processes: int, accelerate_config: str | None, args: list[str]) -> list[str]:
    """The command line that runs `python args` on `processes` processes."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if processes > 1 and not accelerate_config:
        raise ValueError(f"{processes} processes need an accelerate config file (launch.accelerate_config)")
    if not accelerate_config:
        return [sys.executable, *args]
    if not os.path.isfile(accelerate_config):
        raise FileNotFoundError(f"accelerate config {accelerate_config} does not exist")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config]
    launch += ["--num_processes", str(processes), "--main_process_port", str(free_port())]
    if args[:1] == ["-m"]:
        return [*launch, "--module", *args[1:]]
    return [*launch, *args]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmc.training.launch", description=__doc__)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--accelerate-config", default=None)
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, help="-- then the python arguments (e.g. -m bmc.cli sft ...)"
    )
    ns = parser.parse_args(argv)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    cmd = command(ns.processes, ns.accelerate_config, args)
    os.environ["BMC_WORLD_SIZE"] = str(ns.processes)  # the training stage checks it (check_world_size)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
