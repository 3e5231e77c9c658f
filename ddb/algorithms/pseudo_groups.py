"""Group inference from a frozen amplifier (DDB Recipe I): pseudo-groups replace the unknown bias labels.

Kept apart from the robust-training code that consumes them (GroupDRO), as in SpuCo: scoring real images needs
this module and nothing of the training objectives.
"""

from __future__ import annotations

import torch


def pseudo_groups(label: torch.Tensor, amp_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Recipe I pseudo-group of each sample: (label, amplifier-predicted class) -> label * K + amp_pred."""
    return label * num_classes + amp_pred


def error_set_groups(label: torch.Tensor, misclassified: torch.Tensor) -> torch.Tensor:
    """Recipe I "with error set": (label, amplifier-misclassified) -> label * 2 + misclassified (2 groups per class)."""
    return label * 2 + misclassified.long()
