"""Reading a latent training set back: :class:`LatentDataset`, a ``torch.utils.data.Dataset``.

    from torch.utils.data import DataLoader, DistributedSampler
    from vaekit.data import LatentDataset

    ds = LatentDataset("latents/")              # the folder `vaekit encode --clip-frames` wrote
    item = ds[0]                                # {"latents": [C, T', h', w'] normalised, ...}
    loader = DataLoader(ds, batch_size=8, sampler=DistributedSampler(ds))

Items follow the index (``OUT/index.jsonl``, sorted by source and start frame), so every rank of a
training job sees the same list and ``DistributedSampler`` splits it. Latents come normalised as a
diffusion model trains on them, with the model's own convention (the one ``VideoVAE.normalize``
applies, read from each file's metadata, no model needed): per-channel
``(z - latents_mean) / latents_std`` where the model has those statistics, else
``(z - shift_factor) * scaling_factor``. ``denormalize`` maps back to what the decoder takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .errors import InputError
from .io.latent_file import LatentInfo, LatentReader
from .io.latent_index import INDEX, clip_records, is_latent_set


def _stats(info: LatentInfo, z: torch.Tensor):
    if info.latents_mean is not None and info.latents_std is not None:
        shape = (-1,) + (1,) * (z.ndim - 1)
        mean = torch.tensor(info.latents_mean, dtype=z.dtype).view(shape)
        std = torch.tensor(info.latents_std, dtype=z.dtype).view(shape)
        return mean, 1.0 / std
    return info.shift_factor, info.scaling_factor


def normalize_latents(z: torch.Tensor, info: LatentInfo) -> torch.Tensor:
    """Raw latents ``[C, T', h', w']`` -> the unit-scale space (as ``VideoVAE.normalize``)."""
    shift, scale = _stats(info, z)
    return (z - shift) * scale


def denormalize_latents(z: torch.Tensor, info: LatentInfo) -> torch.Tensor:
    """Inverse of :func:`normalize_latents`."""
    shift, scale = _stats(info, z)
    return z / scale + shift


class LatentDataset(Dataset):
    """The finished clips of a latent set, as ``{"latents", metadata...}`` dicts.

    ``normalize=False`` gives the raw posterior means; ``with_logvar=True`` adds ``"logvar"`` (sets
    encoded with ``--save-logvar``); ``verify`` checks each file's checksum when it is read (one pass
    over its bytes; off for speed once a set is trusted). Metadata per item: ``latent_path``,
    ``source``, ``frames`` (start, end) and ``fps`` of the clip, ``source_frames``, ``source_fps``,
    ``index`` (the position in this dataset); all plain numbers and strings, so the default collate
    batches them.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        normalize: bool = True,
        with_logvar: bool = False,
        verify: bool = True,
        dtype: torch.dtype = torch.float32,
    ):
        self.root = Path(root)
        if not is_latent_set(self.root):
            raise InputError(
                f"{self.root} is not a latent set (no {INDEX}); make one with "
                "`vaekit encode DATASET -o OUT --clip-frames N`"
            )
        self.records = clip_records(self.root)
        self.normalize, self.with_logvar, self.verify, self.dtype = normalize, with_logvar, verify, dtype

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        rec = self.records[i]
        reader = LatentReader(self.root / rec["latent"], verify=self.verify)
        z = reader.read("mean").to(self.dtype)
        item = {
            "latents": normalize_latents(z, reader.info) if self.normalize else z,
            "latent_path": rec["latent"],
            "source": rec["source"],
            "frames": tuple(rec["frames"]),
            "fps": float(_fraction(rec["fps"])),
            "source_frames": tuple(rec["source_frames"]),
            "source_fps": float(_fraction(rec["source_fps"])),
            "index": i,
        }
        if self.with_logvar:
            item["logvar"] = reader.read("logvar").to(self.dtype)
        return item

    def info(self, i: int) -> LatentInfo:
        """The latent file metadata of item ``i`` (model, scaling, sizes), e.g. for denormalising."""
        return LatentReader(self.root / self.records[i]["latent"], verify=False).info


def _fraction(text: str):
    from fractions import Fraction

    return Fraction(text)
