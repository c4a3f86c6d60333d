rule data_qa:
    input:
        config["data"]["qa"].get("source", f"{RESOURCES}/data/qa"),
    output:
        sft=f"{R}/data/qa/sft.jsonl",
        prefs=f"{R}/data/qa/prefs.jsonl",
        tests=expand(f"{R}/data/qa/test/{{dataset}}.jsonl", dataset=QA_SETS),
        summary=f"{R}/data/qa/summary.json",
    log:
        f"{LOGS}/data_qa.log",
    benchmark:
        f"{BENCH}/data_qa.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        qa=as_json(config["data"]["qa"]),
        out=lambda wildcards, output: os.path.dirname(output.sft),
    shell:
        "python -m bmc.cli data --resources {input} --out {params.out} --params {params.qa} > {log} 2>&1"
