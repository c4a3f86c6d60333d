# The authors' repository at the pinned commit (config `release`: url, commit), laid out as the data rules
# read it and checked file by file against the shipped manifest of git blob checksums.
rule release:
    input:
        manifest=PLAN.release_manifest,
    output:
        directory(PLAN.release_dir),
    log:
        f"{LOGS}/release.log",
    benchmark:
        f"{BENCH}/release.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        release=as_json(config.get("release") or {}),
    shell:
        "python -m bmc.cli release --manifest {input.manifest} --out {output} --params {params.release} > {log} 2>&1"
