"""Random training patches for SR: crops, flips and rotations, their LR, and batches in order.

Batches are a pure function of ``(seed, iteration)``: every architecture trained
with one seed sees the same crops, flips and order (common random numbers, so
two trials differ only by their architecture), and a resumed run needs nothing
but the iteration number to continue exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from nas.sr.images import ImageError
from nas.sr.imresize import imresize_torch
from nas.sr.pictures import NamedImage, Picture, as_pictures


@dataclass(frozen=True)
class PatchSampler:
    """Random HR patches (and their LR) with flips and 90-degree rotations, reproducible by index.

    ``patch`` is the LR patch side; HR crops are ``patch * scale``.  Images are
    drawn in proportion to their area, as uniform sampling of sub-images would.
    LR patches are MATLAB-style bicubic downsamplings of the HR crops, or, when
    ``lr_pictures`` are given (pre-made LR images), the aligned crops of those.
    """

    pictures: tuple[Picture, ...]
    scale: int
    patch: int
    batch: int
    seed: int
    quantize_lr: bool = False  # the evaluation protocol that matches published numbers keeps LR in float
    lr_pictures: tuple[Picture, ...] | None = None
    shard: tuple[int, int] = (0, 1)  # (rank, world size): this rank's slice of each global batch (DDP)

    def __post_init__(self) -> None:
        if not self.pictures:
            raise ImageError("no training images")
        rank, world = self.shard
        if not 0 <= rank < world or self.batch % world:
            raise ValueError(f"shard: rank {rank} of {world} cannot take an equal slice of a batch of {self.batch}")
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale: {self.scale} (allowed: 2, 3, 4)")
        hr = self.patch * self.scale
        for pic in self.pictures:
            if min(pic.height, pic.width) < hr:
                where = pic.path if pic.path is not None else pic.name
                raise ImageError(f"{where}: {pic.width}x{pic.height} is smaller than the {hr}x{hr} HR patch")
        if self.lr_pictures is not None:
            _check_pairs(self.pictures, self.lr_pictures, self.scale)

    @classmethod
    def from_images(
        cls,
        images: Sequence[NamedImage] | Sequence[Picture],
        scale: int,
        patch: int,
        batch: int,
        seed: int,
        quantize_lr: bool = False,
    ) -> PatchSampler:
        return cls(as_pictures(images), scale, patch, batch, seed, quantize_lr)

    @cached_property
    def _weights(self) -> np.ndarray:
        areas = np.array([p.height * p.width for p in self.pictures], dtype=np.float64)
        return areas / areas.sum()

    @property
    def per_rank(self) -> int:
        """Patches this rank takes from each global batch of ``batch``."""
        return self.batch // self.shard[1]

    def crops(self, iteration: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Batch ``iteration`` as uint8 arrays: HR crops, and aligned LR crops when LR images are given.

        The whole global batch is drawn (so it depends on the seed and the iteration only); this rank
        crops its slice ``[rank * per_rank, (rank + 1) * per_rank)`` of it.
        """
        rng = np.random.default_rng([self.seed, iteration])
        picks = rng.choice(len(self.pictures), size=self.batch, p=self._weights)
        s, size = self.scale, self.patch * self.scale
        plan = []
        for k in picks:
            pic = self.pictures[k]
            y = int(rng.integers(0, (pic.height - size) // s + 1)) * s
            x = int(rng.integers(0, (pic.width - size) // s + 1)) * s
            plan.append((int(k), y, x, int(rng.integers(0, 8))))
        first = self.shard[0] * self.per_rank
        hrs, lrs = [], []
        for k, y, x, code in plan[first : first + self.per_rank]:
            hrs.append(augment(self.pictures[k].pixels()[y : y + size, x : x + size], code))
            if self.lr_pictures is not None:
                lr = self.lr_pictures[k].pixels()[y // s : y // s + self.patch, x // s : x // s + self.patch]
                lrs.append(augment(lr, code))
        return np.stack(hrs), (np.stack(lrs) if lrs else None)

    def hr_batch(self, iteration: int) -> np.ndarray:
        """The HR crops of batch ``iteration``: uint8, batch x H x W x 3."""
        return self.crops(iteration)[0]

    def batch_at(self, iteration: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) float tensors in [0, 1], N x 3 x h x w, for one iteration."""
        hr_np, lr_np = self.crops(iteration)
        return self.pair(torch.from_numpy(hr_np), None if lr_np is None else torch.from_numpy(lr_np), device)

    def pair(
        self, hr: torch.Tensor, lr: torch.Tensor | None, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) float tensors on ``device`` from uint8 crops; LR is made there when no LR images are given
        (bicubic on the training device: a GPU does it faster than the data workers could)."""
        hr_f = _to_tensor(hr, device)
        if lr is not None:
            return _to_tensor(lr, device), hr_f
        lr_f = imresize_torch(hr_f, 1 / self.scale).clamp_(0, 1)
        if self.quantize_lr:
            lr_f = lr_f.mul_(255).round_().div_(255)
        return lr_f, hr_f


def _to_tensor(batch: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    return batch.to(device, non_blocking=batch.is_pinned()).permute(0, 3, 1, 2).float().div_(255)


def _check_pairs(hr: tuple[Picture, ...], lr: tuple[Picture, ...], scale: int) -> None:
    if len(hr) != len(lr):
        raise ImageError(f"{len(hr)} HR images but {len(lr)} LR images")
    for h, low in zip(hr, lr, strict=True):
        if (low.height, low.width) != (h.height // scale, h.width // scale):
            raise ImageError(
                f"{low.name}: LR {low.width}x{low.height} does not match HR {h.name} {h.width}x{h.height} at x{scale}"
            )


def augment(img: np.ndarray, code: int) -> np.ndarray:
    """One of the 8 flips/rotations of a square patch (code 0 = unchanged)."""
    out = np.rot90(img, code % 4)
    if code >= 4:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


class CropSet(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor | None]]):
    """Item ``i``: batch ``i``'s uint8 crops as tensors (what a data-loader worker makes; pure numpy work)."""

    def __init__(self, sampler: PatchSampler) -> None:
        self.sampler = sampler

    def __getitem__(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        hr, lr = self.sampler.crops(iteration)
        return torch.from_numpy(hr), None if lr is None else torch.from_numpy(lr)


def batches(
    sampler: PatchSampler, start: int, stop: int, device: torch.device, workers: int = 0, prefetch: int = 4
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(LR, HR) of iterations ``start .. stop-1`` in order, the same whatever ``workers`` is.

    With workers, crops are cut in ``workers`` processes, ``prefetch`` batches ahead each, into pinned memory
    when training on CUDA; the LR is made on the training device either way (``PatchSampler.pair``).
    """
    if workers == 0:
        for i in range(start, stop):
            yield sampler.batch_at(i, device)
        return
    loader = torch.utils.data.DataLoader(
        CropSet(sampler),
        batch_size=None,  # an item is a whole batch
        sampler=range(start, stop),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=prefetch,
    )
    for hr, lr in loader:
        yield sampler.pair(hr, lr, device)
