localrules:
    stage_weights,


# Fetch one pretrained weight file (torchvision's, or the config's pretrained_weights entry) with its checksum and
# stage it in results/weights/<name>/, which the jobs that start from it read. A local rule: compute nodes often
# have no internet, so no job downloads. Mirrors (tried first) come from DDB_MIRRORS, as for the datasets.
rule stage_weights:
    output:
        weights=directory("results/weights/{weight}"),
    log:
        "results/logs/stage_weights/{weight}.log",
    benchmark:
        "results/benchmarks/stage_weights/{weight}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 1
    params:
        downloads="results/downloads/weights",
        source=lambda wildcards: canonical_json(PLAN.weight_source(wildcards.weight)),
        optional=lambda wildcards: "--optional" if PLAN.weight_optional(wildcards.weight) else "",
        code=PLAN.stage_code("stage_weights"),
    message:
        "Staging the pretrained weights {wildcards.weight}"
    shell:
        "python -m ddb.stage_weights --weight {wildcards.weight} --downloads {params.downloads}"
        " --settings {params.source:q} {params.optional} --out {output.weights} > {log} 2>&1"
