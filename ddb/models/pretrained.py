"""Pretrained weights a stage starts from, by name: torchvision's published files with their full sha256.

No compute job downloads anything (cluster nodes usually have no internet): rule ``stage_weights`` runs on the
login node (``python -m ddb.stage_weights``), fetches each weight the config needs through the dataset download
machinery (checksummed, resumable, mirrors from ``$DDB_MIRRORS`` first; or the file placed by hand in
``results/downloads/weights/``) and writes ``results/weights/<name>/`` (the file, ``weights.json`` and a manifest).
Jobs get that folder as an input and load the file from it, checked against the manifest. The config's
``pretrained_weights`` section can point a name at another file (``{url, sha256}``: a site's copy, or weights of
one's own with the same layout).
"""

from __future__ import annotations

from ddb.datasets.fetch import RemoteFile
from ddb.models.staged import INFO

TORCHVISION = "https://download.pytorch.org/models"
# torchvision names each file by the first 8 hex digits of its sha256; these are the published files' full digests
WEIGHTS = {
    "resnet18": RemoteFile("resnet18-f37072fd.pth",
                           "sha256:f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
                           (f"{TORCHVISION}/resnet18-f37072fd.pth",), manual="torchvision: ResNet-18, IMAGENET1K_V1",
                           extract=False),
    "resnet50": RemoteFile("resnet50-0676ba61.pth",
                           "sha256:0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
                           (f"{TORCHVISION}/resnet50-0676ba61.pth",), manual="torchvision: ResNet-50, IMAGENET1K_V1",
                           extract=False),
    "maskrcnn_resnet50_fpn_v2": RemoteFile(
        "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        "sha256:73cbd0190fcbe3ba339921fbce2c3a0b6bb9126c9a133c85e43a2a8e060a109e",
        (f"{TORCHVISION}/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",),
        manual="torchvision: Mask R-CNN ResNet-50 FPN v2, COCO_V1", extract=False),
}
# the ImageNet weights of each classifier architecture that has them (ImageNet-1k V1, as Whac-A-Mole and group_DRO)
ARCH_WEIGHTS = {"resnet18": "resnet18", "resnet50": "resnet50"}
MASK_RCNN = "maskrcnn_resnet50_fpn_v2"


def remote_file(name: str, source: dict | None = None) -> RemoteFile:
    """The file of weight ``name``: torchvision's, or ``source`` = {url, sha256} from the config."""
    if name not in WEIGHTS:
        raise ValueError(f"unknown pretrained weights {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    if not source:
        return WEIGHTS[name]
    return RemoteFile(source["url"].rstrip("/").rsplit("/", 1)[-1], f"sha256:{source['sha256']}", (source["url"],),
                      manual=f"pretrained_weights.{name}.url in the config", extract=False)


def weights_needed(arch: str, pretrained: str) -> str | None:
    """The weight name a classifier of ``arch`` starts from with ``pretrained`` (yes / auto / no), or None."""
    return ARCH_WEIGHTS.get(arch) if pretrained in ("yes", "auto") else None
