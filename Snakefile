# BMC replication suite: the whole DAG. Wiring only; every step's logic lives in the `bmc` package.
#   snakemake --cores all                                          # mini scale (default)
#   snakemake --cores all --configfile workflow/config/smoke.yaml  # smoke scale, minutes
#   snakemake --configfile workflow/config/paper.yaml --profile workflow/profiles/slurm

from snakemake.utils import min_version

min_version("9.0")


# mini is the default scale. A --configfile names a whole scale: mini is then not read, so none of its
# keys leak into the other scale's config (overlays such as all_methods.yaml follow the scale's file).
if not workflow.config_settings.configfiles:

    configfile: "workflow/config/mini.yaml"


include: "workflow/rules/rehearsal.smk"  # first: the rehearsal fills in config values before they are checked
include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/release.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/sft.smk"
include: "workflow/rules/pairs.smk"
include: "workflow/rules/bridge.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


# every rule the config's `cluster` section names exists (a misspelt name would lose its resources silently)
from bmc.plan.cluster import check_rules  # noqa: E402

check_rules(config, [r.name for r in workflow.rules])


rule all:
    default_target: True
    input:
        PLAN.final_outputs(),
