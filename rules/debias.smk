# DDB stage 5: the debiased model. {run} is a method of ddb/methods/ (ERM, Recipe I, Recipe II, baselines), plus
# the sampling variant for methods that use the synthetic amplifier (the synthetic set behind it).
rule train_debiased:
    input:
        unpack(method_inputs),
        unpack(classifier_weights(lambda wildcards: PLAN.section(wildcards.dataset, "classifier"))),
        metadata=rules.prepare_data.output.metadata,
        store=native_store,
    output:
        model=directory("results/{dataset}/debias/{run}/seed{seed}/model"),
    log:
        "results/logs/train_debiased/{dataset}/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_debiased/{dataset}/{run}/seed{seed}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=sized("train_debiased", "mem_mb", 8000),
        runtime=sized("train_debiased", "runtime", 720),
    params:
        method=run_method,
        method_inputs=method_flags,
        weights=weights_flag,
        settings=section_params("classifier"),
        method_settings=method_settings_params,
        code=lambda wildcards: PLAN.method_code(run_method(wildcards)),
    message:
        "Training {wildcards.run} (seed {wildcards.seed}) on {wildcards.dataset}"
    shell:
        "python -m ddb.train_debiased --method {params.method} --metadata {input.metadata} --store {input.store}"
        " {params.method_inputs} {params.weights} --seed {wildcards.seed} --out {output.model}"
        " --settings {params.settings:q} --method-settings {params.method_settings:q} --threads {threads} > {log} 2>&1"
