"""Config files read as `snakemake --configfile <files>` reads them, for a check before any run:

    python -m bmc.config_files <scale file> [overlays...]   # names a file that is not a YAML mapping, and every bad key
    python -m bmc.config_files                        # the JSON schema of a config

Snakemake reads its `--configfile` files before the Snakefile, so a file that is not YAML or holds a list fails
there with Snakemake's own message, which does not name the file; this reads them the same way and does. It
runs outside the jobs (which never read config files), so its imports are Snakemake's, not a stage env's.
"""

from __future__ import annotations

import argparse
import json

from bmc.config import Config, ConfigError, check


def read_config_files(files: list[str]) -> dict:
    """The config Snakemake builds from `--configfile <files>`, each file read by Snakemake's own reader and
    merged in order; a file that is not a YAML or JSON mapping fails naming it."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config
    from snakemake_interface_common.exceptions import WorkflowError

    config: dict = {}
    for name in files:
        try:
            update_config(config, load_configfile(name))
        except WorkflowError as e:
            raise ConfigError(f"{name}: {e.args[0] if e.args else e}") from None
    return config


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(
        prog="python -m bmc.config_files",
        description="Check config files as `snakemake --configfile <files>` reads them, naming a file that is "
        "not a YAML mapping and every invalid key; without files, print the JSON schema of a config.",
    )
    cli.add_argument("files", nargs="*", help="a scale's file, then its overlays")
    given = cli.parse_args(argv).files
    if not given:
        print(json.dumps(Config.model_json_schema(by_alias=True), indent=1))
        return
    try:
        check(read_config_files(given), given)
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    print(f"valid: {' '.join(given)}")


if __name__ == "__main__":
    main()
