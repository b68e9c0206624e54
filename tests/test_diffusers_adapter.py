"""The diffusers adapter behaves as diffusers' video autoencoders do (tested against diffusers)."""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from diffusers import AutoencoderKLWan  # noqa: E402
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution  # noqa: E402
from diffusers.models.modeling_outputs import AutoencoderKLOutput  # noqa: E402
from modelkit import SMALL  # noqa: E402

from vaekit.integrations.diffusers import AutoencoderKLVaekit  # noqa: E402


@pytest.fixture(scope="module")
def adapter():
    torch.manual_seed(0)
    return AutoencoderKLVaekit(**SMALL).eval()


@pytest.fixture(scope="module")
def wan():
    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1).eval()


def test_same_output_types_and_shapes_as_wan(adapter, wan):
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        ours, theirs = adapter.encode(x), wan.encode(x)
        assert type(ours) is type(theirs) is AutoencoderKLOutput
        assert isinstance(ours.latent_dist, DiagonalGaussianDistribution)
        assert ours.latent_dist.mean.shape == theirs.latent_dist.mean.shape == (1, 16, 2, 4, 4)
        z = ours.latent_dist.sample(generator=torch.Generator().manual_seed(0))
        dec_ours, dec_theirs = adapter.decode(z), wan.decode(theirs.latent_dist.mode())
        assert type(dec_ours) is type(dec_theirs) is DecoderOutput
        assert dec_ours.sample.shape == dec_theirs.sample.shape == (1, 3, 5, 32, 32)
        assert adapter.decode(z, return_dict=False)[0].shape == dec_ours.sample.shape
    for key in ("z_dim", "scale_factor_temporal", "scale_factor_spatial", "latents_mean", "latents_std"):
        assert key in adapter.config and key in wan.config


def test_tiling_and_slicing_run_the_streaming_engine(adapter):
    x = torch.rand(1, 3, 9, 48, 48) * 2 - 1
    with torch.no_grad():
        plain = adapter.encode(x).latent_dist.mean
        adapter.enable_slicing()
        sliced = adapter.encode(x).latent_dist.mean
        adapter.disable_slicing()
        adapter.enable_tiling(tile_sample_min_size=32, tile_overlap=16)
        assert adapter.use_tiling
        tiled = adapter.encode(x).latent_dist.mean
        adapter.disable_tiling()
    assert (sliced - plain).abs().max() < 1e-4  # streaming over time is exact
    assert tiled.shape == plain.shape and not torch.equal(tiled, plain)  # tiles differ at their seams


def test_save_pretrained_from_pretrained_roundtrip(adapter, tmp_path):
    adapter.save_pretrained(tmp_path)
    loaded = AutoencoderKLVaekit.from_pretrained(tmp_path).eval()
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.encode(x).latent_dist.mean, adapter.encode(x).latent_dist.mean)
    assert loaded.config.z_dim == 16 and loaded.config.channels == adapter.config.channels


def test_from_vaekit_matches_vaekit_model(tmp_path):
    from modelkit import small_model

    import vaekit
    from vaekit.model import save_model

    folder = save_model(small_model(torch.float32, seed=9), tmp_path / "m")
    ours = vaekit.load(folder)
    wrapped = AutoencoderKLVaekit.from_vaekit(folder)
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(wrapped.encode(x).latent_dist.mean, ours.encode(x).mean)
