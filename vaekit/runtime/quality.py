"""Compare two video files frame by frame (PSNR/SSIM), streaming both from disk."""

from __future__ import annotations

import os
from itertools import zip_longest

import torch

from ..errors import InputError
from ..io.video import iter_frames
from ..metrics import VideoQuality


def compare_videos(reference: str | os.PathLike, test: str | os.PathLike) -> dict:
    """PSNR (pooled MSE) and mean SSIM over all frames; both videos must match in size and count."""
    q = VideoQuality()
    for a, b in zip_longest(iter_frames(reference), iter_frames(test)):
        if a is None or b is None:
            raise InputError(f"{reference} and {test} have different frame counts")
        if a.shape != b.shape:
            raise InputError(f"{reference} and {test} have different frame sizes ({a.shape} vs {b.shape})")
        q.update(torch.from_numpy(a).permute(2, 0, 1)[None], torch.from_numpy(b).permute(2, 0, 1)[None])
    return {"psnr": round(q.psnr, 3), "ssim": round(q.ssim, 5), "frames": q.frames}
