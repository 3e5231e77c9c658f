"""Image corruptions for Corrupted CIFAR-10 (the bias attribute of LfF's protocol), numpy/torch only.

LfF's "Type1" set: Gaussian, shot, impulse and speckle noise; Gaussian, defocus, glass, motion and zoom blur; and the
original image. Hendrycks & Dietterich (2019) define them; their code needs ImageMagick for motion blur, so here every
corruption is written with numpy and torch convolutions, and the severity parameters are ours (five levels, growing
like theirs). Images produced here are therefore not byte-identical to LfF's files and their numbers are not
directly comparable; the protocol (which corruption stands for which class, skew ratios) is the same.
Every function maps a uint8 (H, W, 3) image and a ``numpy.random.Generator`` to a uint8 image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _to_float(image):
    return image.astype(np.float64) / 255


def _to_uint8(image):
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Per-channel 2-D convolution with reflect padding (float image in, float image out)."""
    k = torch.tensor(kernel / kernel.sum(), dtype=torch.float64)[None, None]
    x = torch.tensor(image, dtype=torch.float64).permute(2, 0, 1)[:, None]
    pad_h, pad_w = kernel.shape[0] // 2, kernel.shape[1] // 2
    x = F.pad(x, (pad_w, kernel.shape[1] - 1 - pad_w, pad_h, kernel.shape[0] - 1 - pad_h), mode="reflect")
    return F.conv2d(x, k)[:, 0].permute(1, 2, 0).numpy()


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1)
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return np.outer(g, g)


def gaussian_noise(image, rng, severity):
    sigma = (0.04, 0.06, 0.08, 0.09, 0.10)[severity - 1]
    x = _to_float(image)
    return _to_uint8(x + rng.normal(0, sigma, x.shape))


def shot_noise(image, rng, severity):
    photons = (500, 250, 100, 75, 50)[severity - 1]
    return _to_uint8(rng.poisson(_to_float(image) * photons) / photons)


def impulse_noise(image, rng, severity):
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[severity - 1]
    x = _to_float(image).copy()
    flip = rng.random(x.shape) < amount
    x[flip] = rng.integers(0, 2, size=int(flip.sum()))  # salt or pepper, per channel
    return _to_uint8(x)


def speckle_noise(image, rng, severity):
    sigma = (0.06, 0.1, 0.12, 0.16, 0.2)[severity - 1]
    x = _to_float(image)
    return _to_uint8(x + x * rng.normal(0, sigma, x.shape))


def gaussian_blur(image, rng, severity):
    return _to_uint8(_convolve(_to_float(image), _gaussian_kernel((0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1])))


def defocus_blur(image, rng, severity):
    radius = (0.3, 0.4, 0.5, 1.0, 1.5)[severity - 1]
    r = max(1, int(np.ceil(radius)))
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    disk = ((x ** 2 + y ** 2) <= radius ** 2).astype(np.float64)
    # an anti-aliased disk (disk then a slight Gaussian), so even the smallest radius blurs a little
    return _to_uint8(_convolve(_convolve(_to_float(image), disk), _gaussian_kernel(0.5)))


def glass_blur(image, rng, severity):
    sigma, delta, iterations = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))[severity - 1]
    x = _convolve(_to_float(image), _gaussian_kernel(max(sigma, 0.1)))
    h, w = x.shape[:2]
    for _ in range(iterations):  # swap each pixel with a random neighbour within ``delta``
        for i in range(h - delta, delta, -1):
            for j in range(w - delta, delta, -1):
                di, dj = rng.integers(-delta, delta, size=2)
                x[i, j], x[i + di, j + dj] = x[i + di, j + dj].copy(), x[i, j].copy()
    return _to_uint8(_convolve(x, _gaussian_kernel(max(sigma, 0.1))))


def motion_blur(image, rng, severity):
    length = (3, 4, 5, 6, 7)[severity - 1]
    angle = rng.uniform(-np.pi / 4, np.pi / 4)
    kernel = np.zeros((2 * length + 1, 2 * length + 1))
    for t in np.linspace(0, length, 4 * length):  # a line from the centre in the direction of motion
        kernel[int(round(length + t * np.sin(angle))), int(round(length + t * np.cos(angle)))] = 1
    return _to_uint8(_convolve(_to_float(image), kernel))


def zoom_blur(image, rng, severity):
    zooms = (np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.02),
             np.arange(1, 1.21, 0.02), np.arange(1, 1.26, 0.03))[severity - 1]
    x = torch.tensor(_to_float(image)).permute(2, 0, 1)[None]
    h, w = image.shape[:2]
    out = x.clone()
    for z in zooms[1:]:  # average of centre crops zoomed back to full size
        zoomed = F.interpolate(x, scale_factor=float(z), mode="bilinear", align_corners=False)
        top, left = (zoomed.shape[2] - h) // 2, (zoomed.shape[3] - w) // 2
        out += zoomed[:, :, top:top + h, left:left + w]
    return _to_uint8((out / len(zooms))[0].permute(1, 2, 0).numpy())


def original(image, rng, severity):
    return image.copy()


# LfF's Type1 set; index = bias value (class k's aligned corruption is CORRUPTIONS[k]).
CORRUPTIONS = (gaussian_noise, shot_noise, impulse_noise, speckle_noise, gaussian_blur, defocus_blur, glass_blur,
               motion_blur, zoom_blur, original)
