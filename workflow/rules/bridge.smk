# Bridgings whose editor is served by the job itself (`serve`, bmc/llm/server.py) are the rule `bridge_served`,
# which asks for the server's GPUs; `bridge` takes the others (local at paper scale: the API needs the internet).
from bmc.plan.cluster import bridge_wildcards

BRIDGE_WILDCARDS = bridge_wildcards(config)


rule bridge:
    input:
        pairs=f"{R}/pairs/{{task}}/pairs.jsonl",
        editor_base=rules.base_model.output[0],
        editor_model=editor_models_needed,
        # the prompt template is an input, so rewording it re-runs bridging (the cache keys on its hash)
        template=lambda wc: PLAN.bridge_template(wc.task, wc.strategy),
    output:
        pairs=f"{R}/bridged/{{task}}/{{strategy}}/pairs.jsonl",
        summary=f"{R}/bridged/{{task}}/{{strategy}}/summary.json",
    log:
        f"{LOGS}/bridge/{{task}}/{{strategy}}.log",
    benchmark:
        f"{BENCH}/bridge/{{task}}/{{strategy}}.tsv"
    wildcard_constraints:
        # the authors' released pairs are converted by released_pairs, not bridged here
        strategy=BRIDGE_WILDCARDS["bridge"],
    conda:
        "../../envs/bridge.yaml"
    threads: job_threads("bridge")
    resources:
        **job_resources("bridge"),
    params:
        # `strategy` may name a Table 4 editor after "+": that editor replaces bridge.editor
        bridge=lambda wc: as_json(PLAN.bridge_settings(wc.strategy)),
        # the editor cache outlives the rule's outputs, so a re-run never asks the editor twice
        cache=f"{R}/cache/bridge",
        # a served editor's server (bmc/llm/server.py) logs beside the job
        server_log=f"{LOGS}/bridge/{{task}}/{{strategy}}.server.log",
    shell:
        "python -m bmc.cli bridge --task {wildcards.task} --pairs {input.pairs} --out {output.pairs}"
        " --summary {output.summary} --cache {params.cache} --base-model {input.editor_base}"
        " --params {params.bridge} --server-log {params.server_log} > {log} 2>&1"


use rule bridge as bridge_served with:
    wildcard_constraints:
        strategy=BRIDGE_WILDCARDS["bridge_served"],
    threads: job_threads("bridge_served")
    resources:
        **job_resources("bridge_served"),


# DPO-BMC@released: the authors' GPT-4-bridged pairs of the release, in the bridged-pairs format
rule released_pairs:
    input:
        PLAN.release_dir,
    output:
        pairs=f"{R}/bridged/{{task}}/released/pairs.jsonl",
        summary=f"{R}/bridged/{{task}}/released/summary.json",
    log:
        f"{LOGS}/released_pairs/{{task}}.log",
    benchmark:
        f"{BENCH}/released_pairs/{{task}}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m bmc.cli released_pairs --task {wildcards.task} --release {input} --out {output.pairs}"
        " --summary {output.summary} > {log} 2>&1"
