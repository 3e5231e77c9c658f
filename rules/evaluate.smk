# Test-split metrics of one trained model (test bias labels are read here, for evaluation only).
rule evaluate:
    input:
        model=rules.train_debiased.output.model,
        metadata=rules.prepare_data.output.metadata,
        store=native_store,
    output:
        metrics="results/{dataset}/debias/{run}/seed{seed}/metrics.json",
    log:
        "results/logs/evaluate/{dataset}/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{run}/seed{seed}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 2
    resources:
        mem_mb=sized("evaluate", "mem_mb", 4000),
        runtime=sized("evaluate", "runtime", 30),
    params:
        amplifier=lambda wildcards: f"--amplifier {run_amplifier(wildcards)}" if run_amplifier(wildcards) else "",
        code=lambda wildcards: PLAN.dataset_code("evaluate", wildcards.dataset),  # its benchmark's own metrics
    message:
        "Evaluating {wildcards.run} (seed {wildcards.seed}) on the {wildcards.dataset} test split"
    shell:
        "python -m ddb.evaluate --model {input.model} --metadata {input.metadata} --store {input.store}"
        " --dataset {wildcards.dataset} {params.amplifier} --out {output.metrics} --threads {threads} > {log} 2>&1"


# How well the amplifier flags the bias-conflicting training images (true bias labels: evaluation only).
rule evaluate_amplifier:
    input:
        scores=rules.score_real.output.scores,
    output:
        detection="results/{dataset}/amplifier/{amplifier}/detection.json",
    log:
        "results/logs/evaluate_amplifier/{dataset}/{amplifier}.log",
    benchmark:
        "results/benchmarks/evaluate_amplifier/{dataset}/{amplifier}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 1
    resources:
        mem_mb=sized("evaluate_amplifier", "mem_mb", 2000),
        runtime=sized("evaluate_amplifier", "runtime", 10),
    params:
        code=PLAN.stage_code("evaluate_amplifier"),
    message:
        "Measuring the {wildcards.amplifier} amplifier's detection of bias-conflicting images in {wildcards.dataset}"
    shell:
        "python -m ddb.evaluate_amplifier --scores {input.scores} --dataset {wildcards.dataset}"
        " --amplifier {wildcards.amplifier:q} --out {output.detection} > {log} 2>&1"
