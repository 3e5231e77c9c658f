"""Pure algorithms, no files and no workflow: diffusion and sampler maths, pseudo-groups, GroupDRO, reweighting, JTT,
the methods' training objectives, metrics, corruptions. Stage modules wire; these compute."""
