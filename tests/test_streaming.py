"""Streaming equals whole-clip processing, for every chunk size; tiling blends correctly."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from modelkit import small_model

from vaekit.errors import InputError
from vaekit.runtime import StreamingEncoder, TileSpec, TorchBackend, decode_all, encode_all
from vaekit.runtime.tiling import TileGrid, tile_starts

_MODEL64 = small_model(torch.float64)
_BACKEND64 = TorchBackend(_MODEL64)


@pytest.mark.parametrize("chunk", [4, 8, 12, 32])
@pytest.mark.parametrize("frames", [1, 6, 13])
def test_streaming_equals_whole_clip_fp64(chunk, frames):
    x = torch.rand(2, 3, frames, 24, 40, dtype=torch.float64) * 2 - 1  # batch 2, odd counts
    whole = _MODEL64.encode(x)
    moments = encode_all(_BACKEND64, x, chunk)
    assert (moments[:, :16] - whole.mean).abs().max() < 1e-10
    assert (moments[:, 16:].clamp(-30, 20) - whole.logvar).abs().max() < 1e-10
    pixels = decode_all(_BACKEND64, whole.mean, chunk)
    assert (pixels - _MODEL64.decode(whole.mean)).abs().max() < 1e-10


@settings(max_examples=15, deadline=None)
@given(
    frames=st.integers(1, 14),
    chunk=st.sampled_from([4, 8, 16]),
    piece=st.integers(1, 5),
    h=st.integers(1, 4),
    w=st.integers(1, 4),
)
def test_streaming_property_any_piece_sizes(frames, chunk, piece, h, w):
    """Frames may arrive in pieces of any size; the latents never depend on how they arrived."""
    x = torch.rand(1, 3, frames, 8 * h - 3, 8 * w, dtype=torch.float64)
    enc = StreamingEncoder(_BACKEND64, chunk, TileSpec(mode="off"))
    got = torch.cat(list(enc.run(x.split(piece, dim=2))), dim=2)
    assert enc.frame_count == frames
    assert (got[:, :16] - _MODEL64.encode(x).mean).abs().max() < 1e-10


def test_streaming_fp32_tiny_preset(recwarn):
    from vaekit.model import load_model

    m = load_model("tiny")
    be = TorchBackend(m)
    x = torch.rand(1, 3, 9, 64, 64) * 2 - 1
    with torch.no_grad():
        whole = m.encode(x).mean
        dec = m.decode(whole)
    assert (encode_all(be, x, 4)[:, :16] - whole).abs().max() < 1e-4
    assert (decode_all(be, whole, 4) - dec).abs().max() < 1e-4


def test_empty_stream_is_an_input_error():
    with pytest.raises(InputError, match="no frames"):
        list(StreamingEncoder(_BACKEND64).run(iter([])))


def test_frame_size_change_is_an_input_error():
    enc = StreamingEncoder(_BACKEND64, 4)
    frames = [
        torch.zeros(1, 3, 1, 16, 16, dtype=torch.float64),
        torch.zeros(1, 3, 1, 24, 16, dtype=torch.float64),
    ]
    with pytest.raises(InputError, match="frame size changed"):
        list(enc.run(frames))


def test_chunk_frames_must_be_multiple_of_4():
    with pytest.raises(ValueError, match="multiple of 4"):
        StreamingEncoder(_BACKEND64, 6)


def test_tile_grid_covers_and_blends_exactly():
    assert tile_starts(100, 100, 20) == [0]
    assert tile_starts(232, 96, 32) == [0, 64, 128, 136]
    x = torch.rand(1, 3, 2, 200, 232, dtype=torch.float64)
    g = TileGrid(200, 232, 96, 32)
    assert (g.blend([g.crop(x, t) for t in g.tiles], 1) - x).abs().max() < 1e-12
    pooled = [torch.nn.functional.avg_pool3d(g.crop(x, t), (1, 8, 8)) for t in g.tiles]
    ref = torch.nn.functional.avg_pool3d(x, (1, 8, 8))
    assert (g.blend(pooled, 1 / 8) - ref).abs().max() < 1e-12


class _LocalBackend(TorchBackend):
    """A backend whose steps are per-pixel-block maps, so tiling must be exact."""

    def encode_step(self, x, cache):
        b, c, t, h, w = x.shape
        pooled = torch.nn.functional.avg_pool3d(x, (4, 8, 8))
        return pooled.repeat(1, 32 // c + 1, 1, 1, 1)[:, :32], cache

    def decode_step(self, z, cache):
        up = z[:, :3].repeat_interleave(4, 2).repeat_interleave(8, 3).repeat_interleave(8, 4)
        return up, cache


def test_tiled_streaming_equals_untiled_for_local_maps():
    be = _LocalBackend(_MODEL64)
    x = torch.rand(1, 3, 9, 200, 232, dtype=torch.float64)
    tiled = encode_all(be, x, 8, TileSpec.parse("96:32"))
    plain = encode_all(be, x, 8, TileSpec(mode="off"))
    assert (tiled - plain).abs().max() < 1e-12
    z = torch.rand(1, 16, 3, 25, 29, dtype=torch.float64)
    assert (
        decode_all(be, z, 8, TileSpec.parse("96:32")) - decode_all(be, z, 8, TileSpec(mode="off"))
    ).abs().max() < 1e-12


def test_tile_spec_parsing():
    assert TileSpec.parse("auto").enabled_for(1080, 1920) and not TileSpec.parse("auto").enabled_for(512, 512)
    assert not TileSpec.parse("off").enabled_for(4000, 4000)
    spec = TileSpec.parse("256:64")
    assert (spec.size, spec.overlap) == (256, 64) and spec.enabled_for(300, 200)
    for bad in ("abc", "0", "64:64", "64:-1"):
        with pytest.raises(ValueError):
            TileSpec.parse(bad)
