"""The image store: every split decoded once into a .npy file that stages read a batch at a time, holding the same
pixels the stages used to decode themselves."""

import numpy as np
import pytest
import torch

from ddb.core.images import load_image, load_split, write_store
from ddb.core.store import StoredImages, resolution_size
from ddb.core.tables import read_table
from helpers import prepared_shapes, store_of


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return prepared_shapes(tmp_path_factory.mktemp("shapes"), num_classes=3, image_size=16, n_train=40, n_val=9,
                           n_test=9)


@pytest.mark.parametrize("size", [None, 8])
def test_a_store_holds_each_image_as_decoded_and_resized_once_in_table_order(shapes, tmp_path, size):
    table = read_table(shapes, "metadata")
    write_store(table, shapes.parent, tmp_path, size)
    for split in ("train", "val", "test"):
        rows = table[table["split"] == split]
        expected = np.stack([load_image(shapes.parent / p, size) for p in rows["path"]]).transpose(0, 3, 1, 2)
        data = load_split(table, tmp_path, split)
        assert data.sample_ids == rows["sample_id"].tolist() and data.labels.tolist() == rows["label"].tolist()
        assert np.array_equal(data.images[torch.arange(len(rows))].numpy(), expected)
        assert np.array_equal(np.load(tmp_path / f"{split}.npy"), expected)  # plain numpy reads it too


def test_batches_subsets_and_slices_read_exactly_their_rows(shapes):
    table = read_table(shapes, "metadata")
    data = load_split(table, store_of(shapes), "train")
    everything = data.images[torch.arange(len(data))]
    index = torch.tensor([7, 3, 4, 5, 39, 0, 0])  # unordered, runs of consecutive rows, repeats
    assert torch.equal(data.images[index], everything[index])
    assert torch.equal(data.images[10:25], everything[10:25]) and torch.equal(data.images[2], everything[2])
    part = data.subset(torch.tensor([30, 1, 2, 12]))
    assert isinstance(part.images, StoredImages) and part.images.shape == (4, 3, 16, 16)
    assert torch.equal(part.images[torch.tensor([3, 0])], everything[[12, 30]])
    assert part.sample_ids == [data.sample_ids[i] for i in (30, 1, 2, 12)]
    assert torch.equal(part.labels, data.labels[[30, 1, 2, 12]])


def test_resolution_names():
    assert resolution_size("native") is None and resolution_size("64px") == 64
    with pytest.raises(ValueError, match="use 'native' or '<n>px'"):
        resolution_size("64")


def test_inference_reads_big_images_in_smaller_batches_and_small_ones_512_at_a_time():
    from ddb.models.classifiers import predict_batch_size, predict_logits

    assert [predict_batch_size(s, s) for s in (16, 32, 64, 224, 256, 2048)] == [512, 512, 512, 41, 32, 1]

    class MeanPixel(torch.nn.Module):  # records each batch; its logit is the mean pixel, so the rows can be checked
        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x):
            self.seen.append(len(x))
            return x.mean(dim=(1, 2, 3))[:, None]

    model = MeanPixel()
    images = torch.arange(100, dtype=torch.uint8)[:, None, None, None].expand(100, 3, 224, 224)
    logits = predict_logits(model, images, torch.device("cpu"))
    assert model.seen == [41, 41, 18]
    assert torch.allclose(logits[:, 0] * 255, torch.arange(100, dtype=torch.float32))
