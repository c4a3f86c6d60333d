rule evaluate:
    input:
        f"{R}/generations/{{task}}/{{method}}/seed{{seed}}/{{dataset}}.jsonl",
    output:
        scores=f"{R}/scores/{{task}}/{{method}}/seed{{seed}}/{{dataset}}/scores.json",
        records=f"{R}/scores/{{task}}/{{method}}/seed{{seed}}/{{dataset}}/records.jsonl",
    log:
        f"{LOGS}/evaluate/{{task}}/{{method}}/seed{{seed}}/{{dataset}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{task}}/{{method}}/seed{{seed}}/{{dataset}}.tsv"
    wildcard_constraints:
        task="qa|math",
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m bmc.cli evaluate --generations {input} --out {output.scores} --model-name {wildcards.method}"
        " --method {wildcards.method} --seed {wildcards.seed} --task {wildcards.task} --dataset {wildcards.dataset}"
        " > {log} 2>&1"


rule judge:
    input:
        generations=f"{R}/generations/if/{{method}}/seed{{seed}}/{{dataset}}.jsonl",
        tests=f"{R}/data/if/test/{{dataset}}.jsonl",
        baseline=judge_baseline,
        base_model=rules.base_model.output[0],
    output:
        scores=f"{R}/scores/if/{{method}}/seed{{seed}}/{{dataset}}/scores.json",
        judgments=f"{R}/scores/if/{{method}}/seed{{seed}}/{{dataset}}/judgments.jsonl",
    log:
        f"{LOGS}/judge/{{method}}/seed{{seed}}/{{dataset}}.log",
    benchmark:
        f"{BENCH}/judge/{{method}}/seed{{seed}}/{{dataset}}.tsv"
    conda:
        "../../envs/judge.yaml"
    threads: job_threads("judge")
    resources:
        **job_resources("judge"),
    params:
        judge=as_json(config.get("judge", {})),
        baseline=lambda wc, input: (
            f"--baseline-generations {input.baseline}" if input.baseline else ""
        ),
        cache=f"{R}/cache/judge",
        # a served judge's server (bmc/llm/server.py) logs beside the job
        server_log=f"{LOGS}/judge/{{method}}/seed{{seed}}/{{dataset}}.server.log",
    shell:
        "python -m bmc.cli judge --generations {input.generations} --tests {input.tests} {params.baseline}"
        " --out {output.scores} --cache {params.cache} --base-model {input.base_model} --params {params.judge}"
        " --method {wildcards.method} --seed {wildcards.seed} --dataset {wildcards.dataset}"
        " --server-log {params.server_log} > {log} 2>&1"
