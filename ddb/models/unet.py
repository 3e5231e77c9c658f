"""The class-conditional diffusion UNet: diffusers' UNet2DModel with one extra class embedding, the null condition."""

from __future__ import annotations


def shape_problems(settings: dict) -> list[str]:
    """Why a ``diffusion`` section cannot build a UNet (empty when it can). The workflow calls this when it plans
    the DAG, so a bad shape stops the run before any job, not after data preparation."""
    levels = len(settings["block_out_channels"])
    problems = []
    attention = set(settings["attention_levels"])
    if max(attention, default=0) >= levels:
        problems.append(f"attention_levels {sorted(attention)} name a level >= the {levels} UNet levels")
    if settings["image_size"] % 2 ** (levels - 1):
        problems.append(f"image_size {settings['image_size']} is not divisible by 2^{levels - 1} (the {levels} UNet "
                        f"levels halve it {levels - 1} times)")
    groups = settings["norm_num_groups"]
    odd = [c for c in settings["block_out_channels"] if c % groups]
    if odd:
        problems.append(f"block_out_channels {odd} are not divisible by norm_num_groups {groups} (GroupNorm)")
    return problems


def build_unet(settings: dict, num_classes: int):
    """UNet2DModel with ``num_classes + 1`` class embeddings (the last one is the null condition)."""
    from diffusers import UNet2DModel  # here, not above: planning the DAG checks shapes without loading diffusers

    problems = shape_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))
    levels = len(settings["block_out_channels"])
    attention = set(settings["attention_levels"])
    down = tuple("AttnDownBlock2D" if i in attention else "DownBlock2D" for i in range(levels))
    up_attention = attention if settings["attention_in_up_path"] else set()
    up = tuple("AttnUpBlock2D" if i in up_attention else "UpBlock2D" for i in reversed(range(levels)))
    return UNet2DModel(
        sample_size=settings["image_size"],
        in_channels=3,
        out_channels=3,
        block_out_channels=tuple(settings["block_out_channels"]),
        layers_per_block=settings["layers_per_block"],
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=settings["norm_num_groups"],
        dropout=settings["dropout"],
        num_class_embeds=num_classes + 1,
    )
