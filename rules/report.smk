# Figures of the Snakemake report (`snakemake --report results/report.html`, README "Reading the report"); each
# is also a PNG under results/<dataset>/report/. Light jobs: they run on the submitting node.
localrules:
    plot_synthetic_vs_real,
    plot_amplifier_scores,
    plot_training_curves,
    plot_group_accuracy,
    plot_bias_amplification,


rule plot_synthetic_vs_real:
    input:
        synthetic=synthetic_dirs,
        metadata=rules.prepare_data.output.metadata,
    output:
        figure=report(
            "results/{dataset}/report/synthetic_vs_real/{sampling}.png",
            caption="../report/synthetic_vs_real.rst",
            category="2. Synthetic vs real images",
            labels={"dataset": "{dataset}", "synthetic set": "{sampling}"},
        ),
    log:
        "results/logs/plot_synthetic_vs_real/{dataset}/{sampling}.log",
    benchmark:
        "results/benchmarks/plot_synthetic_vs_real/{dataset}/{sampling}.tsv"
    conda:
        "../envs/ddb.yaml"
    params:
        code=PLAN.stage_code("figures.synthetic_vs_real"),
    message:
        "Plotting synthetic vs real images of {wildcards.dataset} ({wildcards.sampling})"
    shell:
        "python -m ddb.figures.synthetic_vs_real --metadata {input.metadata} --synthetic {input.synthetic}"
        " --out {output.figure} > {log} 2>&1"


rule plot_amplifier_scores:
    input:
        scores=rules.score_real.output.scores,
        detection=rules.evaluate_amplifier.output.detection,
    output:
        figure=report(
            "results/{dataset}/report/amplifier_scores/{amplifier}.png",
            caption="../report/amplifier_scores.rst",
            category="3. Bias amplifier scores",
            labels={"dataset": "{dataset}", "amplifier": "{amplifier}"},
        ),
    log:
        "results/logs/plot_amplifier_scores/{dataset}/{amplifier}.log",
    benchmark:
        "results/benchmarks/plot_amplifier_scores/{dataset}/{amplifier}.tsv"
    conda:
        "../envs/ddb.yaml"
    params:
        code=PLAN.stage_code("figures.amplifier_scores"),
    message:
        "Plotting the {wildcards.amplifier} amplifier's scores on {wildcards.dataset}"
    shell:
        "python -m ddb.figures.amplifier_scores --scores {input.scores} --detection {input.detection}"
        " --title '{wildcards.dataset}: amplifier trained on {wildcards.amplifier}' --out {output.figure} > {log} 2>&1"


rule plot_training_curves:
    input:
        unpack(training_logs),
    output:
        figure=report(
            "results/{dataset}/report/training_curves.png",
            caption="../report/training_curves.rst",
            category="4. Training curves",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "results/logs/plot_training_curves/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_training_curves/{dataset}.tsv"
    conda:
        "../envs/ddb.yaml"
    params:
        flags=lambda wildcards, input: cli_flags(input, ("diffusion", "amplifiers", "runs")),
        debias_root="results/{dataset}/debias",
        code=PLAN.stage_code("figures.training_curves"),
    message:
        "Plotting the training curves of {wildcards.dataset}"
    shell:
        "python -m ddb.figures.training_curves {params.flags} --debias-root {params.debias_root}"
        " --out {output.figure} > {log} 2>&1"


rule plot_group_accuracy:
    input:
        metrics=dataset_metrics,
        metadata=rules.prepare_data.output.metadata,
    output:
        figure=report(
            "results/{dataset}/report/group_accuracy.png",
            caption="../report/group_accuracy.rst",
            category="1. Results",
            labels={"dataset": "{dataset}", "figure": "per-group accuracy"},
        ),
    log:
        "results/logs/plot_group_accuracy/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_group_accuracy/{dataset}.tsv"
    conda:
        "../envs/ddb.yaml"
    params:
        debias_root="results/{dataset}/debias",
        code=PLAN.stage_code("figures.group_accuracy"),
    message:
        "Plotting per-group test accuracy of every method on {wildcards.dataset}"
    shell:
        "python -m ddb.figures.group_accuracy --metrics {input.metrics} --metadata {input.metadata}"
        " --debias-root {params.debias_root} --dataset {wildcards.dataset} --out {output.figure} > {log} 2>&1"


rule plot_bias_amplification:
    input:
        real_share=rules.measure_real_bias.output.share,
        synthetic_shares=lambda wildcards: expand(
            "results/{dataset}/synthetic/{sampling}/bias_share.json",
            dataset=wildcards.dataset,
            sampling=PLAN.sampling_variants,
        ),
        detection=lambda wildcards: expand(
            "results/{dataset}/amplifier/{amplifier}/detection.json",
            dataset=wildcards.dataset,
            amplifier=PLAN.used_amplifiers(),
        ),
    output:
        figure=report(
            "results/{dataset}/report/bias_amplification.png",
            caption="../report/bias_amplification.rst",
            category="3. Bias amplifier scores",
            labels={"dataset": "{dataset}", "amplifier": "rho and memorisation"},
        ),
    log:
        "results/logs/plot_bias_amplification/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_bias_amplification/{dataset}.tsv"
    conda:
        "../envs/ddb.yaml"
    params:
        code=PLAN.stage_code("figures.bias_amplification"),
    message:
        "Plotting bias amplification and memorisation of {wildcards.dataset}"
    shell:
        "python -m ddb.figures.bias_amplification --real-share {input.real_share}"
        " --synthetic-shares {input.synthetic_shares} --detection {input.detection}"
        " --title '{wildcards.dataset}: bias amplification (rho) and amplifier detection' --out {output.figure} > {log} 2>&1"
