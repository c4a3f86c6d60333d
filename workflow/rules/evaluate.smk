rule evaluate:
    input:
        generations=f"{R}/generations/{{task}}/{{method}}/seed{{seed}}/{{dataset}}.jsonl",
        # the release folder where the task's data comes from it: its authors' code grades the released rule
        release=lambda wc: PLAN.grading_release(wc.task),
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
    params:
        release=lambda wc, input: f"--release {input.release}" if input.release else "",
    shell:
        "python -m bmc.cli evaluate --generations {input.generations} --out {output.scores} --model-name {wildcards.method}"
        " --method {wildcards.method} --seed {wildcards.seed} --task {wildcards.task} --dataset {wildcards.dataset}"
        " {params.release} > {log} 2>&1"


# Arena-Hard v0.1's judge prompt at the pinned commit (config `judge.arena_hard_prompt`: url, commit), checked file
# by file against the git blobs of the shipped manifest
rule arena_hard_judge:
    input:
        manifest=PLAN.arena_hard_manifest,
    output:
        directory(PLAN.arena_hard_dir),
    log:
        f"{LOGS}/arena_hard_judge.log",
    benchmark:
        f"{BENCH}/arena_hard_judge.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        source=as_json((config.get("judge") or {}).get("arena_hard_prompt") or {}),
    shell:
        "python -m bmc.cli release --manifest {input.manifest} --out {output} --params {params.source} > {log} 2>&1"


rule judge:
    input:
        generations=f"{R}/generations/if/{{method}}/seed{{seed}}/{{dataset}}.jsonl",
        tests=f"{R}/data/if/test/{{dataset}}.jsonl",
        baseline=judge_baseline,
        base_model=rules.base_model.output[0],
        # Arena-Hard v0.1's judge files, for the Arena-Hard set when the config asks for its prompt
        judge_prompt=lambda wc: (
            rules.arena_hard_judge.output[0]
            if wc.dataset == "arena_hard" and PLAN.arena_hard_prompt
            else []
        ),
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
        judge_prompt=lambda wc, input: (
            f"--judge-prompt {input.judge_prompt}" if input.judge_prompt else ""
        ),
        cache=f"{R}/cache/judge",
        # a served judge's server (bmc/llm/server.py) logs beside the job
        server_log=f"{LOGS}/judge/{{method}}/seed{{seed}}/{{dataset}}.server.log",
    shell:
        "python -m bmc.cli judge --generations {input.generations} --tests {input.tests} {params.baseline}"
        " --out {output.scores} --cache {params.cache} --base-model {input.base_model} --params {params.judge}"
        " --method {wildcards.method} --seed {wildcards.seed} --dataset {wildcards.dataset}"
        " --server-log {params.server_log} {params.judge_prompt} > {log} 2>&1"
