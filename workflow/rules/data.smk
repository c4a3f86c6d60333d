rule data_qa:
    input:
        PLAN.data_input("qa"),
    output:
        sft=f"{R}/data/qa/sft.jsonl",
        prefs=f"{R}/data/qa/prefs.jsonl",
        tests=expand(
            f"{R}/data/qa/test/{{dataset}}.jsonl", dataset=DATASETS.get("qa", [])
        ),
        summary=f"{R}/data/qa/summary.json",
    log:
        f"{LOGS}/data_qa.log",
    benchmark:
        f"{BENCH}/data_qa.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        qa=as_json(config["data"].get("qa", {})),
        out=lambda wildcards, output: os.path.dirname(output.sft),
    shell:
        "python -m bmc.cli data_qa --resources {input} --out {params.out} --params {params.qa} > {log} 2>&1"


rule data_math:
    input:
        PLAN.data_input("math"),
    output:
        sft=f"{R}/data/math/sft.jsonl",
        prefs=f"{R}/data/math/prefs.jsonl",
        tests=expand(
            f"{R}/data/math/test/{{dataset}}.jsonl", dataset=DATASETS.get("math", [])
        ),
        summary=f"{R}/data/math/summary.json",
    log:
        f"{LOGS}/data_math.log",
    benchmark:
        f"{BENCH}/data_math.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        math=as_json(config["data"].get("math", {})),
        out=lambda wildcards, output: os.path.dirname(output.sft),
    shell:
        "python -m bmc.cli data_math --resources {input} --out {params.out} --params {params.math} > {log} 2>&1"


rule data_if:
    input:
        f"{RESOURCES}/data/if",
    output:
        sft=f"{R}/data/if/sft.jsonl",
        prefs=f"{R}/data/if/prefs.jsonl",
        tests=expand(
            f"{R}/data/if/test/{{dataset}}.jsonl", dataset=DATASETS.get("if", [])
        ),
        summary=f"{R}/data/if/summary.json",
    log:
        f"{LOGS}/data_if.log",
    benchmark:
        f"{BENCH}/data_if.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        data=as_json(config["data"].get("if", {})),
        out=lambda wildcards, output: os.path.dirname(output.sft),
        cache=config.get("download_cache", "resources/downloads"),
    shell:
        "python -m bmc.cli data_if --resources {input} --out {params.out} --params {params.data}"
        " --cache {params.cache} > {log} 2>&1"
