# DDB stage 3: the bias amplifier, trained on synthetic images only (its inputs hold no real image).
rule train_amplifier:
    input:
        unpack(classifier_weights(lambda wildcards: PLAN.section(wildcards.dataset, "amplifier"))),
        synthetic=synthetic_dirs,
    output:
        model=directory("results/{dataset}/amplifier/synthetic/{sampling}/model"),
    log:
        "results/logs/train_amplifier/{dataset}/{sampling}.log",
    benchmark:
        "results/benchmarks/train_amplifier/{dataset}/{sampling}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=sized("train_amplifier", "mem_mb", 8000),
        runtime=sized("train_amplifier", "runtime", 240),
    params:
        settings=section_params("amplifier"),
        weights=weights_flag,
        code=PLAN.stage_code("train_amplifier"),
    message:
        "Training the bias amplifier of {wildcards.dataset} on synthetic images ({wildcards.sampling})"
    shell:
        "python -m ddb.train_amplifier --synthetic {input.synthetic} --out {output.model} {params.weights}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


# Ablation: the same amplifier trained on the real training split (methods *_real_amplifier); `real` for
# real_amplifier.epochs, `real/epochs=<n>` for each entry of the memorisation sweep (sweeps.real_amplifier_epochs).
rule train_real_amplifier:
    input:
        unpack(classifier_weights(real_amplifier_settings)),
        metadata=rules.prepare_data.output.metadata,
        store=native_store,
    output:
        model=directory("results/{dataset}/amplifier/{real_amplifier}/model"),
    log:
        "results/logs/train_real_amplifier/{dataset}/{real_amplifier}.log",
    benchmark:
        "results/benchmarks/train_real_amplifier/{dataset}/{real_amplifier}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=sized("train_real_amplifier", "mem_mb", 8000),
        runtime=sized("train_real_amplifier", "runtime", 240),
    params:
        settings=real_amplifier_params,
        weights=weights_flag,
        code=PLAN.stage_code("train_amplifier"),
    message:
        "Training the ablation's amplifier of {wildcards.dataset} on real images ({wildcards.real_amplifier})"
    shell:
        "python -m ddb.train_amplifier --real-metadata {input.metadata} --store {input.store} --out {output.model}"
        " {params.weights} --settings {params.settings:q} --threads {threads} > {log} 2>&1"


# DDB stage 4: a frozen amplifier scores every real image into one Parquet table.
rule score_real:
    input:
        amplifier="results/{dataset}/amplifier/{amplifier}/model",
        metadata=rules.prepare_data.output.metadata,
        store=amplifier_store,
    output:
        scores="results/{dataset}/amplifier/{amplifier}/scores.parquet",
    log:
        "results/logs/score_real/{dataset}/{amplifier}.log",
    benchmark:
        "results/benchmarks/score_real/{dataset}/{amplifier}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=sized("score_real", "mem_mb", 8000),
        runtime=sized("score_real", "runtime", 60),
    params:
        code=PLAN.stage_code("score_real"),
    message:
        "Scoring the real images of {wildcards.dataset} with the frozen {wildcards.amplifier} amplifier"
    shell:
        "python -m ddb.score_real --amplifier {input.amplifier} --metadata {input.metadata} --store {input.store}"
        " --out {output.scores} --threads {threads} > {log} 2>&1"
