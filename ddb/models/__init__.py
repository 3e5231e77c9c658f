"""Networks: the classifiers (amplifier and target model) and the diffusion UNet."""
