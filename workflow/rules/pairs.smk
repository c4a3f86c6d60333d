rule sample_losing:
    input:
        model=SFT_MODEL,
        data=f"{R}/data/{{task}}/prefs.jsonl",
    output:
        samples=f"{R}/pairs/{{task}}/samples.jsonl",
        meta=f"{R}/pairs/{{task}}/samples.jsonl.meta.json",  # how they were generated
    log:
        f"{LOGS}/sample_losing/{{task}}.log",
    benchmark:
        f"{BENCH}/sample_losing/{{task}}.tsv"
    wildcard_constraints:
        task=one_of(PLAN.sampled_pair_tasks),
    conda:
        "../../envs/generate.yaml"
    threads: job_threads("sample_losing")
    resources:
        **job_resources("sample_losing"),
    params:
        sample=task_json("sample"),
    shell:
        "python -m bmc.cli sample_losing --model {input.model} --data {input.data} --out {output.samples}"
        " --params {params.sample} > {log} 2>&1"


rule build_pairs:
    input:
        rules.sample_losing.output[0],
    output:
        pairs=f"{R}/pairs/{{task}}/pairs.jsonl",
        summary=f"{R}/pairs/{{task}}/summary.json",
    log:
        f"{LOGS}/build_pairs/{{task}}.log",
    benchmark:
        f"{BENCH}/build_pairs/{{task}}.tsv"
    wildcard_constraints:
        task=one_of(PLAN.sampled_pair_tasks),
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m bmc.cli build_pairs --samples {input} --out {output.pairs} --summary {output.summary} > {log} 2>&1"


rule given_pairs:
    input:
        f"{R}/data/{{task}}/prefs.jsonl",
    output:
        pairs=f"{R}/pairs/{{task}}/pairs.jsonl",
        summary=f"{R}/pairs/{{task}}/summary.json",
    log:
        f"{LOGS}/given_pairs/{{task}}.log",
    benchmark:
        f"{BENCH}/given_pairs/{{task}}.tsv"
    wildcard_constraints:
        task=one_of(PLAN.given_pair_tasks),
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m bmc.cli given_pairs --prefs {input} --out {output.pairs} --summary {output.summary} > {log} 2>&1"
