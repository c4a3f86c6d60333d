rule table1_qa:
    input:
        scores=qa_scores(),
        paper=f"{RESOURCES}/paper_values.yaml",
    output:
        csv=report(
            f"{R}/tables/table1_qa.csv",
            category="Tables",
            caption="../report/table1_qa.rst",
        ),
        md=f"{R}/tables/table1_qa.md",
    log:
        f"{LOGS}/table1_qa.log",
    conda:
        "../../envs/report.yaml"
    params:
        label=shlex.quote(config["label"]),
    shell:
        "python -m bmc.cli table --table table1_qa --scores {input.scores} --paper-values {input.paper}"
        " --label {params.label} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule table5_qa:
    input:
        scores=qa_scores(),
        paper=f"{RESOURCES}/paper_values.yaml",
    output:
        csv=report(
            f"{R}/tables/table5_qa.csv",
            category="Tables",
            caption="../report/table5_qa.rst",
        ),
        md=f"{R}/tables/table5_qa.md",
    log:
        f"{LOGS}/table5_qa.log",
    conda:
        "../../envs/report.yaml"
    params:
        label=shlex.quote(config["label"]),
    shell:
        "python -m bmc.cli table --table table5_qa --scores {input.scores} --paper-values {input.paper}"
        " --label {params.label} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule report:
    input:
        tables=[t for t in tables() if t.endswith(".md")],
        summaries=[
            rules.data_qa.output.summary,
            rules.build_pairs_qa.output.summary,
            f"{R}/bridged/qa/{STRATEGY}/summary.json",
        ],
    output:
        md=f"{R}/report/index.md",
        html=report(f"{R}/report/index.html", category="Report"),
    log:
        f"{LOGS}/report.log",
    conda:
        "../../envs/report.yaml"
    params:
        label=shlex.quote(config["label"]),
        config=as_json(config),
        bench=BENCH,
    shell:
        "python -m bmc.cli report --tables {input.tables} --summaries {input.summaries}"
        " --benchmarks-dir {params.bench} --config-json {params.config} --label {params.label}"
        " --out-md {output.md} --out-html {output.html} > {log} 2>&1"
