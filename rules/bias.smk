# Evaluation only (reads bias labels; never an input to a method): how biased the real training split and each
# synthetic set are. rho = share of bias-aligned images per class, by a bias classifier trained on the balanced
# val split at the synthetic images' resolution (ddb/train_bias_classifier.py, ddb/measure_bias.py).
rule train_bias_classifier:
    input:
        unpack(classifier_weights(lambda wildcards: PLAN.bias_classifier_section(wildcards.dataset))),
        metadata=rules.prepare_data.output.metadata,
        store=diffusion_store,
    output:
        model=directory("results/{dataset}/bias_classifier/model"),
    log:
        "results/logs/train_bias_classifier/{dataset}.log",
    benchmark:
        "results/benchmarks/train_bias_classifier/{dataset}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=sized("train_bias_classifier", "mem_mb", 8000),
        runtime=sized("train_bias_classifier", "runtime", 120),
    params:
        settings=bias_classifier_params,
        weights=weights_flag,
        code=PLAN.stage_code("train_bias_classifier"),
    message:
        "Training the evaluation-only bias classifier of {wildcards.dataset}"
    shell:
        "python -m ddb.train_bias_classifier --metadata {input.metadata} --store {input.store}"
        " --out {output.model} {params.weights} --settings {params.settings:q} --threads {threads} > {log} 2>&1"


rule measure_real_bias:
    input:
        classifier=rules.train_bias_classifier.output.model,
        metadata=rules.prepare_data.output.metadata,
        store=diffusion_store,
    output:
        share="results/{dataset}/bias_classifier/real_bias_share.json",
    log:
        "results/logs/measure_real_bias/{dataset}.log",
    benchmark:
        "results/benchmarks/measure_real_bias/{dataset}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 2
    resources:
        mem_mb=sized("measure_real_bias", "mem_mb", 4000),
        runtime=sized("measure_real_bias", "runtime", 30),
    params:
        code=PLAN.stage_code("measure_bias"),
    message:
        "Measuring how biased the real training split of {wildcards.dataset} is"
    shell:
        "python -m ddb.measure_bias --classifier {input.classifier} --metadata {input.metadata} --real"
        " --store {input.store}"
        " --dataset {wildcards.dataset} --measured real --out {output.share} --threads {threads} > {log} 2>&1"


rule measure_synthetic_bias:
    input:
        classifier=rules.train_bias_classifier.output.model,
        metadata=rules.prepare_data.output.metadata,
        synthetic=synthetic_dirs,
    output:
        share="results/{dataset}/synthetic/{sampling}/bias_share.json",
    log:
        "results/logs/measure_synthetic_bias/{dataset}/{sampling}.log",
    benchmark:
        "results/benchmarks/measure_synthetic_bias/{dataset}/{sampling}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 2
    resources:
        mem_mb=sized("measure_synthetic_bias", "mem_mb", 4000),
        runtime=sized("measure_synthetic_bias", "runtime", 30),
    params:
        code=PLAN.stage_code("measure_bias"),
    message:
        "Measuring how biased the synthetic set {wildcards.sampling} of {wildcards.dataset} is"
    shell:
        "python -m ddb.measure_bias --classifier {input.classifier} --metadata {input.metadata}"
        " --synthetic {input.synthetic} --dataset {wildcards.dataset} --measured synthetic/{wildcards.sampling}"
        " --out {output.share} --threads {threads} > {log} 2>&1"
