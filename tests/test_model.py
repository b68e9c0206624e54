"""The model's contracts: shapes, causality, image = 1-frame video, distribution, folders."""

import json
import warnings

import pytest
import torch
from modelkit import SMALL, small_model

from vaekit.errors import InputError
from vaekit.model import (
    CausalVideoVAE,
    DiagonalGaussian,
    UntrainedWeightsWarning,
    VAEConfig,
    load_model,
    save_model,
    weights_sha256,
)


@pytest.mark.parametrize("frames,latents", [(1, 1), (5, 2), (17, 5), (2, 2), (10, 4)])
def test_frame_counts_follow_1_plus_4k(frames, latents):
    m = small_model()
    x = torch.rand(1, 3, frames, 24, 40, dtype=torch.float64) * 2 - 1
    post = m.encode(x)
    assert post.mean.shape == (1, 16, latents, 3, 5)
    y = m.decode(post.mode())
    assert y.shape == (1, 3, 1 + 4 * (latents - 1), 24, 40)
    assert m.decode(post.mode(), frames, 20, 33).shape == (1, 3, frames, 20, 33)


def test_encoder_and_decoder_are_causal():
    """Changing frame t must not change latents (or decoded frames) before it."""
    m = small_model()
    x = torch.rand(1, 3, 13, 16, 16, dtype=torch.float64)
    x2 = x.clone()
    x2[:, :, 9:] += 1.0  # frames 9..12 belong to latent 3 (1 + 4*2 = frame 9 starts it)
    a, b = m.encode(x).mean, m.encode(x2).mean
    assert torch.equal(a[:, :, :3], b[:, :, :3])
    assert not torch.allclose(a[:, :, 3], b[:, :, 3])
    z = a.clone()
    z2 = z.clone()
    z2[:, :, 2] += 1.0
    ya, yb = m.decode(z), m.decode(z2)
    assert torch.equal(ya[:, :, :5], yb[:, :, :5])  # latent 2 makes frames 5..8
    assert not torch.allclose(ya[:, :, 5], yb[:, :, 5])


def test_single_image_is_the_first_frame_of_a_video():
    m = small_model()
    x = torch.rand(1, 3, 9, 16, 16, dtype=torch.float64)
    image = m.encode(x[:, :, :1]).mean
    video = m.encode(x).mean
    torch.testing.assert_close(image[:, :, 0], video[:, :, 0], rtol=0, atol=1e-12)


def test_diagonal_gaussian():
    mean = torch.zeros(2, 4, 1, 2, 2)
    logvar = torch.zeros(2, 4, 1, 2, 2)
    d = DiagonalGaussian(torch.cat([mean, logvar], 1))
    assert torch.equal(d.kl(), torch.zeros(2))
    d2 = DiagonalGaussian(torch.cat([mean + 1, logvar], 1))
    assert torch.allclose(d2.kl(), torch.full((2,), 0.5 * 16))  # 0.5 * mu^2 summed over 16 elements
    g = torch.Generator().manual_seed(0)
    s1 = d.sample(g)
    s2 = d.sample(torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2) and s1.std() > 0.5
    assert torch.equal(d.mode(), mean)


def test_normalize_roundtrip_and_stats():
    cfg = VAEConfig(**SMALL, latents_mean=[0.5] * 16, latents_std=[2.0] * 16)
    m = CausalVideoVAE(cfg)
    z = torch.randn(1, 16, 2, 3, 3)
    torch.testing.assert_close(m.normalize(z), (z - 0.5) / 2.0)
    torch.testing.assert_close(m.denormalize(m.normalize(z)), z)
    m2 = CausalVideoVAE(VAEConfig(**SMALL, scaling_factor=0.5, shift_factor=0.1))
    torch.testing.assert_close(m2.normalize(z), (z - 0.1) * 0.5)


def test_presets_fit_the_issue():
    tiny = load_model("tiny")
    n = sum(p.numel() for p in tiny.parameters())
    assert n <= 10_000_000
    base_cfg = VAEConfig.from_json(tiny.source_dir.parent / "base" / "config.json")
    with pytest.warns(UntrainedWeightsWarning, match="no trained weights"):  # base ships no weights
        base = load_model("base")
    assert 100e6 < sum(p.numel() for p in base.parameters()) < 160e6  # Wan 2.1 VAE class (~127M)
    for cfg in (tiny.config, base_cfg):
        assert (cfg.temporal_compression, cfg.spatial_compression, cfg.latent_channels) == (4, 8, 16)


def test_save_and_load_folder_roundtrip(tmp_path):
    m = small_model(torch.float32, seed=3)
    save_model(m, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # trained weights: no warning
        m2 = load_model(tmp_path / "m")
    assert m2.trained and weights_sha256(m2) == weights_sha256(m)
    x = torch.rand(1, 3, 5, 16, 16)
    assert torch.equal(m.encode(x).mean, m2.encode(x).mean)
    assert weights_sha256(small_model(torch.float32, seed=4)) != weights_sha256(m)


def test_bad_model_folders(tmp_path):
    with pytest.raises(InputError, match="presets: .*tiny"):
        load_model("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        load_model(tmp_path / "empty")
    m = small_model(torch.float32)
    save_model(m, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["channels"] = [8, 16, 16]
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="do not fit config.json"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot read weights"):
        load_model(tmp_path / "m")
