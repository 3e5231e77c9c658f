# DDB stage 3: the bias amplifier, trained on synthetic images only (its inputs hold no real image).
rule train_amplifier:
    input:
        synthetic=synthetic_dirs,
    output:
        model=directory("results/{dataset}/amplifier/model"),
    log:
        "results/logs/train_amplifier/{dataset}.log",
    benchmark:
        "results/benchmarks/train_amplifier/{dataset}.tsv"
    params:
        settings=settings_json(config["amplifier"]),
        code=code_version("train_amplifier"),
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/ddb.yaml"
    message:
        "Training the bias amplifier of {wildcards.dataset} on synthetic images"
    shell:
        "python -m ddb.train_amplifier --synthetic {input.synthetic} --out {output.model}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


# DDB stage 4: the frozen amplifier scores every real image into one Parquet table.
rule score_real:
    input:
        amplifier=rules.train_amplifier.output.model,
        metadata=rules.prepare_data.output.metadata,
    output:
        scores="results/{dataset}/scores.parquet",
    log:
        "results/logs/score_real/{dataset}.log",
    benchmark:
        "results/benchmarks/score_real/{dataset}.tsv"
    params:
        code=code_version("score_real"),
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    conda:
        "../envs/ddb.yaml"
    message:
        "Scoring the real images of {wildcards.dataset} with the frozen amplifier"
    shell:
        "python -m ddb.score_real --amplifier {input.amplifier} --metadata {input.metadata}"
        " --out {output.scores} --threads {threads} > {log} 2>&1"
