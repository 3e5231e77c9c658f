"""Shared training machinery: device and precision, batch sampling, resumable checkpoints, and the one training loop
of every classifier (amplifiers and debiased models)."""
