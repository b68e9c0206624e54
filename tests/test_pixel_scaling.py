"""The trainer's pixel scaling goes through :mod:`vaekit.runtime.pixels` and gives the same bits as
the formulas the trainer wrote itself before (kept here as the reference)."""

import torch

from vaekit.runtime.pixels import PIXEL_MAX, to_levels, to_uint8, to_unit
from vaekit.train.data import resize_and_crop
from vaekit.train.validation import sample_picture

_EDGES = [
    -3.0,
    -1.001,
    -1.0,
    -0.99999,
    -0.5,
    0.0,
    1e-7,
    0.5,
    0.99999,
    1.0,
    1.001,
    3.0,
    float("inf"),
    -float("inf"),
]


def _unit_values() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.cat([torch.tensor(_EDGES), torch.rand(4096, generator=gen) * 2.2 - 1.1])


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and torch.equal(a.view(torch.int32), b.view(torch.int32))


def test_levels_are_the_validators_previous_formula_bit_for_bit():
    x = _unit_values()
    previous = ((x.float() + 1.0) * 127.5).round().clamp(0, 255)  # train/validation.py before
    assert _same_bits(to_levels(x), previous)
    assert PIXEL_MAX == 255.0


def test_uint8_is_the_previous_formula():
    x = _unit_values()
    previous = ((x.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)  # pixels.py before
    assert torch.equal(to_uint8(x), previous)


def test_unit_is_the_data_loaders_previous_formula_bit_for_bit():
    gen = torch.Generator().manual_seed(1)
    levels = torch.rand(4096, generator=gen) * 270 - 7  # resampled frames overshoot 0..255
    previous = (levels / 127.5 - 1.0).clamp(-1.0, 1.0)  # train/data.py before
    assert _same_bits(to_unit(levels, clamp=True), previous)
    u8 = torch.arange(256, dtype=torch.uint8)
    assert _same_bits(to_unit(u8), u8.float() / 127.5 - 1.0)


def test_a_training_clip_and_a_sample_picture_keep_their_bits():
    gen = torch.Generator().manual_seed(2)
    frames = torch.randint(0, 256, (2, 20, 30, 3), dtype=torch.uint8, generator=gen)
    clip = resize_and_crop(frames, 16, torch.Generator().manual_seed(3))
    # the same steps with the previous scaling: resize 20x30 -> 16x24, the same random crop
    x = frames.permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(
        x, size=(16, 24), mode="bilinear", antialias=True, align_corners=False
    )
    crop_gen = torch.Generator().manual_seed(3)
    top = int(torch.randint(0, 1, (1,), generator=crop_gen))
    left = int(torch.randint(0, 9, (1,), generator=crop_gen))
    x = x[:, :, top : top + 16, left : left + 16]
    assert _same_bits(clip, (x / 127.5 - 1.0).clamp(-1.0, 1.0).permute(1, 0, 2, 3).contiguous())

    recon = (clip * 0.9 + 0.05).clamp(-1, 1)
    picture = sample_picture(clip[None], recon[None])

    def previous(v):
        return ((v.float() + 1.0) * 127.5).round().clamp(0, 255)

    rows = [torch.cat([previous(v)[0, :, i] for i in (0, 1)], dim=2) for v in (clip[None], recon[None])]
    assert (picture == torch.cat(rows, dim=1).permute(1, 2, 0).to(torch.uint8).numpy()).all()
