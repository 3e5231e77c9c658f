"""Diffusing DeBias (DDB) as a workflow. The folders say what lives where:

- ``ddb/<stage>.py``: the stage modules the rules call (``python -m ddb.<stage>``), each a small ``main()``:
  download, stage_weights, generate_urbancars, prepare_data, build_image_store, train_diffusion, sample_synthetic,
  train_amplifier, score_real, train_bias_classifier, measure_bias, train_debiased, evaluate, evaluate_amplifier,
  check_results, collect; the report's figures in ``ddb/figures/``.
- ``ddb/datasets/``: one module per dataset source (files, checksums, builder, protocol), the download machinery.
- ``ddb/methods/``: one module per debiasing method (what it reads, its training objective).
- ``ddb/algorithms/``: pure algorithms without files: diffusion and samplers, pseudo-groups, GroupDRO,
  reweighting, JTT, metrics, corruptions.
- ``ddb/models/``: the classifiers and the diffusion UNet. ``ddb/training/``: device, batches, checkpoints and the
  one classifier training loop. ``ddb/core/``: atomic outputs, settings, logs, tables, images.
- ``ddb/workflow/``: planning that the rules import (config merging, sweeps, run names, code identity); no stage
  imports it. ``ddb/tools/``: the benchmark, the GPU check and cost estimate, report screenshots, the SLURM profile's
  site values.
"""
