# All test sets of a task are answered by one job, so the model loads once; a finished set keeps its rows in
# a partial file until the job succeeds, so a rerun after another set failed does not answer it again. Each
# set's answers come with `<set>.jsonl.meta.json` (backend, versions, dtype, model sha256, decoding). Outputs
# cannot depend on a wildcard's value, so each task has its own rule (math and if reuse the QA one).
rule generate_qa:
    input:
        model=lambda wc: PLAN.model_dir("qa", wc.method, wc.seed),
        data=expand(
            f"{R}/data/qa/test/{{dataset}}.jsonl", dataset=DATASETS.get("qa", [])
        ),
    output:
        gens=expand(
            f"{R}/generations/qa/{{{{method}}}}/seed{{{{seed}}}}/{{dataset}}.jsonl",
            dataset=DATASETS.get("qa", []),
        ),
        meta=expand(
            f"{R}/generations/qa/{{{{method}}}}/seed{{{{seed}}}}/{{dataset}}.jsonl.meta.json",
            dataset=DATASETS.get("qa", []),
        ),
    log:
        f"{LOGS}/generate_qa/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/generate_qa/{{method}}/seed{{seed}}.tsv"
    conda:
        "../../envs/generate.yaml"
    threads: job_threads("generate_qa")
    resources:
        **job_resources("generate_qa"),
    params:
        eval=as_json(PLAN.task_settings("eval", "qa")),
        task="qa",
    shell:
        "python -m bmc.cli generate --task {params.task} --model {input.model} --data {input.data} --out {output.gens}"
        " --params {params.eval} > {log} 2>&1"


use rule generate_qa as generate_math with:
    input:
        model=lambda wc: PLAN.model_dir("math", wc.method, wc.seed),
        data=expand(
            f"{R}/data/math/test/{{dataset}}.jsonl", dataset=DATASETS.get("math", [])
        ),
    output:
        gens=expand(
            f"{R}/generations/math/{{{{method}}}}/seed{{{{seed}}}}/{{dataset}}.jsonl",
            dataset=DATASETS.get("math", []),
        ),
        meta=expand(
            f"{R}/generations/math/{{{{method}}}}/seed{{{{seed}}}}/{{dataset}}.jsonl.meta.json",
            dataset=DATASETS.get("math", []),
        ),
    log:
        f"{LOGS}/generate_math/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/generate_math/{{method}}/seed{{seed}}.tsv"
    threads: job_threads("generate_math")
    resources:
        **job_resources("generate_math"),
    params:
        eval=as_json(PLAN.task_settings("eval", "math")),
        task="math",


use rule generate_qa as generate_if with:
    input:
        model=lambda wc: PLAN.model_dir("if", wc.method, wc.seed),
        data=expand(
            f"{R}/data/if/test/{{dataset}}.jsonl", dataset=DATASETS.get("if", [])
        ),
    output:
        gens=expand(
            f"{R}/generations/if/{{{{method}}}}/seed{{{{seed}}}}/{{dataset}}.jsonl",
            dataset=DATASETS.get("if", []),
        ),
        meta=expand(
            f"{R}/generations/if/{{{{method}}}}/seed{{{{seed}}}}/{{dataset}}.jsonl.meta.json",
            dataset=DATASETS.get("if", []),
        ),
    log:
        f"{LOGS}/generate_if/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/generate_if/{{method}}/seed{{seed}}.tsv"
    threads: job_threads("generate_if")
    resources:
        **job_resources("generate_if"),
    params:
        eval=as_json(PLAN.task_settings("eval", "if")),
        task="if",
