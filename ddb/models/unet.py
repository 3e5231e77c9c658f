"""The class-conditional diffusion UNet: diffusers' UNet2DModel with one extra class embedding, the null condition."""

from __future__ import annotations

from diffusers import UNet2DModel


def build_unet(settings: dict, num_classes: int) -> UNet2DModel:
    """UNet2DModel with ``num_classes + 1`` class embeddings (the last one is the null condition)."""
    levels = len(settings["block_out_channels"])
    attention = set(settings["attention_levels"])
    if max(attention, default=0) >= levels:
        raise ValueError(f"attention_levels {sorted(attention)} name a level >= the {levels} UNet levels")
    if settings["image_size"] % 2 ** (levels - 1):
        raise ValueError(f"image_size {settings['image_size']} is not divisible by 2^{levels - 1} ({levels} UNet levels)")
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
