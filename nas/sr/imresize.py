"""MATLAB-compatible bicubic ``imresize`` (antialiased when shrinking), in numpy and in torch.

The SR benchmarks' LR images and bicubic baselines come from MATLAB's ``imresize(img, scale,
'bicubic')``; PyTorch's bicubic without antialiasing does not reproduce the published numbers, so
the evaluation and any training-time degradation use this one. Along each resized dimension every output pixel is a
weighted sum of at most ``ceil(4 / min(scale, 1)) + 2`` input pixels:

- input coordinate of output pixel ``i`` (1-based): ``u = i / scale + (1 - 1 / scale) / 2``;
- kernel: Keys' cubic with a = -0.5; when shrinking it is stretched to ``scale * cubic(scale * x)``
  (4 / scale wide), which is the antialiasing;
- each output pixel's weights are normalised to sum to 1;
- indices outside the image are mirrored with the edge pixel repeated (MATLAB's symmetric padding).

MATLAB resizes the dimension with the smaller scale first; with one scale for both that is the rows.
The output side is ``ceil(side * scale)``. Both functions use :func:`contributions`: numpy gathers
each output pixel's taps, torch applies the same weights as one dense matrix per dimension (two
batched matmuls, the fastest form on CPU), so they agree to rounding error (``tests/nas/test_imresize.py``).
"""

from __future__ import annotations

import math
import numbers
from functools import lru_cache

import numpy as np
import torch

KERNEL_WIDTH = 4.0  # Keys' cubic is non-zero on (-2, 2)
SIZE_EPS = 1e-9  # so that 255 * (1/3) is 85 even when floating point says 85.000...01


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def output_size(size: int, scale: float) -> int:
    """MATLAB's output side for a scale factor: ``ceil(size * scale)``, robust to float noise."""
    return max(1, math.ceil(size * scale - SIZE_EPS))


def mirror(indices: np.ndarray, size: int) -> np.ndarray:
    """0-based indices folded into ``[0, size)`` the way MATLAB's symmetric padding does (edge repeated)."""
    period = np.concatenate([np.arange(size), np.arange(size - 1, -1, -1)])
    return period[np.mod(indices, 2 * size)]


@lru_cache(maxsize=256)
def contributions(in_size: int, out_size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-pixel weights and 0-based input indices, both ``out_size x taps``, for one dimension."""
    width = KERNEL_WIDTH / scale if scale < 1 else KERNEL_WIDTH
    u = np.arange(1, out_size + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based, as in MATLAB
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if scale < 1 else cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    used = np.any(weights != 0, axis=0)  # drop all-zero columns: fewer taps, same result
    weights, indices = weights[:, used], indices[:, used]
    idx = mirror(indices.astype(np.int64) - 1, in_size)
    weights.setflags(write=False)
    idx.setflags(write=False)
    return weights, idx


def check_args(shape: tuple[int, ...], scale: float) -> None:
    """Raise ValueError for a scale that is not a positive finite number or an image with no pixels."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"imresize: scale must be a positive number, got {scale!r}")
    if 0 in shape:
        raise ValueError(f"imresize: empty image, shape {shape}")


def resize_dim_np(img: np.ndarray, axis: int, scale: float) -> np.ndarray:
    """Resize one axis of a float64 array: gather each output pixel's taps and sum them weighted."""
    in_size = img.shape[axis]
    weights, idx = contributions(in_size, output_size(in_size, scale), float(scale))
    moved = np.moveaxis(img, axis, 0)
    gathered = moved[idx]  # out x taps x rest
    w = weights.reshape(weights.shape + (1,) * (moved.ndim - 1))
    return np.moveaxis((gathered * w).sum(axis=1), 0, axis)


def imresize_np(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` of an HxW or HxWxC image, as float64 (uint8 too: never rounded)."""
    arr = np.asarray(img)
    if arr.ndim not in (2, 3):
        raise ValueError(f"imresize_np: expected an HxW or HxWxC image, got shape {arr.shape}")
    check_args(arr.shape, scale)
    out = arr.astype(np.float64, copy=False)
    for axis in (0, 1):  # one scale for both: MATLAB's stable sort of the scales puts rows first
        out = resize_dim_np(out, axis, scale)
    return out


@lru_cache(maxsize=32)  # one entry is in x out doubles (16 MB for a 2040 -> 1020 side): keep few
def weight_matrix(in_size: int, out_size: int, scale: float) -> np.ndarray:
    """The ``out_size x in_size`` matrix of one dimension's resize: :func:`contributions` scattered densely."""
    weights, idx = contributions(in_size, out_size, scale)
    matrix = np.zeros((out_size, in_size))
    rows = np.repeat(np.arange(out_size), weights.shape[1])
    np.add.at(matrix, (rows, idx.ravel()), weights.ravel())  # add: a mirrored index may repeat in a row
    matrix.setflags(write=False)
    return matrix


def torch_matrix(in_size: int, scale: float, like: torch.Tensor) -> torch.Tensor:
    """One dimension's resize matrix on the device and in the dtype of ``like``."""
    matrix = weight_matrix(in_size, output_size(in_size, scale), float(scale))
    return torch.tensor(matrix, device=like.device, dtype=like.dtype)


def imresize_torch(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(img, scale, 'bicubic')`` of an N x C x H x W batch, on its device and dtype."""
    if x.dim() != 4:
        raise ValueError(f"imresize_torch: expected an N x C x H x W tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"imresize_torch: expected a floating-point tensor, got {x.dtype}")
    check_args(tuple(x.shape), scale)
    rows = torch_matrix(x.shape[2], scale, x)
    cols = torch_matrix(x.shape[3], scale, x)
    # Two batched matmuls (rows first, as in imresize_np): on CPU much faster than gathering taps.
    return torch.matmul(torch.matmul(rows, x), cols.T)
