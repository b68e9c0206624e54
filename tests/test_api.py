"""The Python API that diffusion pipelines use: vaekit.load and the VideoVAE module."""

from fractions import Fraction

import pytest
import torch
from modelkit import small_model

import vaekit
from vaekit.io.video import frame_count_exact, probe
from vaekit.model import save_model


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    folder = save_model(small_model(torch.float32, seed=5), tmp_path_factory.mktemp("m") / "small")
    return vaekit.load(folder)


def test_load_returns_a_module_with_the_documented_interface(vae):
    assert isinstance(vae, torch.nn.Module) and isinstance(vae, vaekit.VideoVAE)
    x = torch.rand(2, 3, 5, 32, 48) * 2 - 1
    with torch.no_grad():
        post = vae.encode(x)
        assert post.mean.shape == post.logvar.shape == (2, 16, 2, 4, 6)
        assert post.kl().shape == (2,)
        z = post.sample(torch.Generator().manual_seed(0))
        assert vae.decode(z).shape == (2, 3, 5, 32, 48)


def test_load_dtype_and_device_strings(tmp_path):
    folder = save_model(small_model(torch.float32), tmp_path / "m")
    v = vaekit.load(folder, device="cpu", dtype="bf16")
    assert next(v.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        out = v.decode(v.encode(torch.zeros(1, 3, 1, 16, 16, dtype=torch.bfloat16)).mode())
    assert out.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be one of"):
        vaekit.load(folder, dtype="fp8")


def test_encode_video_and_decode_to_video(vae, odd_clip, tmp_path):
    enc = vae.encode_video(odd_clip, chunk_frames=4)
    assert (enc.frame_count, enc.height, enc.width, enc.fps) == (10, 150, 250, Fraction(30000, 1001))
    assert enc.latent_dist.mean.shape == (1, 16, 4, 19, 32)
    out = tmp_path / "o.mp4"
    n = vae.decode_to_video(enc.latent_dist.mode(), out, enc.fps, enc.frame_count, enc.height, enc.width)
    info = probe(out)
    assert n == 10 == frame_count_exact(out) and (info.width, info.height, info.fps) == (250, 150, enc.fps)


def test_streaming_iterators_match_whole_tensor_calls(vae):
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        whole = vae.encode(x).mean
        chunks = list(vae.iter_encode(x.split(2, dim=2), chunk_frames=4))
        assert len(chunks) == 3
        streamed = torch.cat([c.mean for c in chunks], dim=2)
        assert (streamed - whole).abs().max() < 1e-4
        pixels = torch.cat(list(vae.iter_decode(whole.split(1, dim=2), chunk_frames=4)), dim=2)
        assert (pixels - vae.decode(whole)).abs().max() < 1e-4


def test_top_level_import_is_light():
    import subprocess
    import sys

    code = "import sys, vaekit; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )
