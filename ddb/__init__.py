"""Diffusing DeBias (DDB) as a workflow: one module per pipeline stage, algorithms in small I/O-free modules.

Stage modules (each runnable as ``python -m ddb.<stage>``): prepare_data, train_diffusion, sample_synthetic,
train_amplifier, score_real, train_debiased, evaluate, evaluate_amplifier, collect.
"""

__version__ = "0.1.0"
