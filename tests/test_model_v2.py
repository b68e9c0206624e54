"""The v2 architecture (wider resample projections, motion branches, group mixing, replicated
lead-in): streaming stays exact, v1 configs and weights are untouched, v1 weights warm-start it,
it exports, and it can move content spatially across the frames of a latent."""

import dataclasses
import functools
import json
import warnings
from pathlib import Path

import pytest
import torch
from modelkit import SMALL
from safetensors import safe_open

from vaekit.errors import InputError
from vaekit.model import CausalVideoVAE, VAEConfig, load_model, upgrade_state_dict
from vaekit.model.layers import Downsample, GroupMix, Upsample
from vaekit.runtime import StreamingEncoder, TileSpec, TorchBackend, decode_all, encode_all

V2 = dict(resample_kernel=3, motion_levels=[1, 2], group_mixing=True)
TINY_DIR = Path(__file__).resolve().parents[1] / "models" / "tiny-v1"


def perturb_(model: CausalVideoVAE, seed: int = 1, scale: float = 0.05) -> CausalVideoVAE:
    """Make every no-op of a fresh v2 model do something: random zero-initialised convs and
    off-centre resample taps (else the new branches would test nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if {"motion", "mix", "proj"} & set(name.split(".")):
                p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return model


def v2_model(lead_in="replicate", dtype=torch.float64, seed=0, **extra) -> CausalVideoVAE:
    torch.manual_seed(seed)
    cfg = VAEConfig(**{**SMALL, **V2, "lead_in": lead_in, **extra})
    return perturb_(CausalVideoVAE(cfg)).to(dtype).eval()


def tiny() -> CausalVideoVAE:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model("tiny-v1")


_MODELS = {lead: v2_model(lead) for lead in ("zeros", "replicate")}
_BACKENDS = {lead: TorchBackend(m) for lead, m in _MODELS.items()}


# -- streaming ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lead_in", ["zeros", "replicate"])
@pytest.mark.parametrize("chunk", [4, 8, 12])
@pytest.mark.parametrize("frames", [1, 6, 13])
def test_v2_streaming_equals_whole_clip_fp64(lead_in, chunk, frames):
    m, be = _MODELS[lead_in], _BACKENDS[lead_in]
    x = torch.rand(2, 3, frames, 24, 40, dtype=torch.float64) * 2 - 1
    whole = m.encode(x)
    moments = encode_all(be, x, chunk)
    assert (moments[:, :16] - whole.mean).abs().max() < 1e-10
    assert (moments[:, 16:].clamp(-30, 20) - whole.logvar).abs().max() < 1e-10
    pixels = decode_all(be, whole.mean, chunk)
    assert (pixels - m.decode(whole.mean)).abs().max() < 1e-10


@pytest.mark.parametrize("lead_in", ["zeros", "replicate"])
def test_v2_streaming_any_piece_sizes(lead_in):
    m, be = _MODELS[lead_in], _BACKENDS[lead_in]
    x = torch.rand(1, 3, 14, 13, 16, dtype=torch.float64)
    want = m.encode(x).mean
    for chunk, piece in ((4, 1), (8, 3), (16, 5)):
        enc = StreamingEncoder(be, chunk, TileSpec(mode="off"))
        got = torch.cat(list(enc.run(x.split(piece, dim=2))), dim=2)
        assert (got[:, :16] - want).abs().max() < 1e-10


def test_replicate_lead_in_is_copies_of_frame_0_whoever_prepends_it():
    """Zeros prepended (the engine, exported clip graphs) or copies: the encoder sees f0 x 4."""
    m = _MODELS["replicate"]
    x = torch.rand(1, 3, 5, 16, 16, dtype=torch.float64)
    f0 = x[:, :, :1]
    by_copies = torch.cat([f0.expand(-1, -1, 3, -1, -1), x], dim=2)
    by_zeros = torch.cat([torch.zeros_like(by_copies[:, :, :3]), x], dim=2)
    assert torch.equal(m.lead_in(x), f0.expand(-1, -1, 3, -1, -1))
    cache = m.encoder.init_cache(1, 16, 16, dtype=torch.float64)
    a, _ = m.encoder(by_copies, cache)
    b, _ = m.encoder(by_zeros, cache)
    assert torch.equal(a, b) and torch.equal(a[:, :16], m.encode(x).mean)
    # a zeros model does see the zero lead-in: latent 0 differs
    z = v2_model("zeros")
    assert not torch.allclose(z.encode(x).mean[:, :, 0], m.encode(x).mean[:, :, 0])
    # the flag is part of the cache: one more entry than the blocks need, set after a step
    assert len(cache) == len(z.encoder.init_cache(1, 16, 16)) + 1
    assert m.encoder(by_zeros, cache)[1][-1].min() == 1


@pytest.mark.parametrize("lead_in", ["zeros", "replicate"])
def test_v2_image_is_one_latent_frame_and_the_first_of_a_video(lead_in):
    m = _MODELS[lead_in]
    x = torch.rand(1, 3, 9, 16, 24, dtype=torch.float64) * 2 - 1
    image = m.encode(x[:, :, :1]).mean
    assert image.shape == (1, 16, 1, 2, 3)
    assert m.decode(image).shape == (1, 3, 1, 16, 24)
    torch.testing.assert_close(image[:, :, 0], m.encode(x).mean[:, :, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("lead_in", ["zeros", "replicate"])
def test_v2_is_causal_across_latents(lead_in):
    """Mixing inside a group looks both ways, but never into the next group."""
    m = _MODELS[lead_in]
    x = torch.rand(1, 3, 13, 16, 16, dtype=torch.float64)
    x2 = x.clone()
    x2[:, :, 9:] += 1.0  # frames 9..12 are latent 3
    a, b = m.encode(x).mean, m.encode(x2).mean
    assert torch.equal(a[:, :, :3], b[:, :, :3]) and not torch.allclose(a[:, :, 3], b[:, :, 3])
    z2 = a.clone()
    z2[:, :, 2] += 1.0
    ya, yb = m.decode(a), m.decode(z2)
    assert torch.equal(ya[:, :, :5], yb[:, :, :5]) and not torch.allclose(ya[:, :, 5:9], yb[:, :, 5:9])


# -- v1 is untouched ------------------------------------------------------------------------------
def test_v1_config_json_round_trips_byte_identical():
    text = (TINY_DIR / "config.json").read_text()
    cfg = VAEConfig.from_json(TINY_DIR / "config.json")
    assert cfg.is_v1 and cfg.to_json() == text
    assert (cfg.resample_kernel, cfg.motion_levels, cfg.group_mixing, cfg.lead_in) == (1, [], False, "zeros")
    v2 = VAEConfig(**SMALL, **V2, lead_in="replicate")
    assert VAEConfig.from_dict(v2.to_dict()) == v2 and not v2.is_v1
    assert {"resample_kernel", "motion_levels", "group_mixing", "lead_in"} <= set(v2.to_dict())


def test_v1_tiny_gives_the_numbers_it_always_did():
    """Golden values of the shipped tiny model computed with vaekit before v2 existed (fp64)."""
    m = load_model("tiny-v1", dtype=torch.float64)
    with safe_open(str(TINY_DIR / "model.safetensors"), "pt") as f:
        assert sorted(f.keys()) == sorted(m.state_dict())
    assert len(m.encoder.init_cache(1, 64, 64)) == 4 and len(m.decoder.init_cache(1, 8, 8)) == 6
    t = torch.arange(3 * 5 * 32 * 48, dtype=torch.float64).reshape(1, 3, 5, 32, 48)
    x = torch.sin(t * 0.0137) * torch.cos(t * 0.00071)
    with torch.no_grad():
        post = m.encode(x)
        y = m.decode(post.mean)
    golden = {
        "mean_sum": -164.7923052885174,
        "mean_abs": 899.8610997222357,
        "logvar_sum": -3335.9565083062407,
        "y_sum": 265.34574265859385,
        "y_abs": 6171.859778399877,
    }
    got = {
        "mean_sum": post.mean.sum().item(),
        "mean_abs": post.mean.abs().sum().item(),
        "logvar_sum": post.logvar.sum().item(),
        "y_sum": y.sum().item(),
        "y_abs": y.abs().sum().item(),
    }
    for k, v in golden.items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-9), k
    mean_pts = [
        1.6542186301020576,
        -0.23654426271961304,
        -1.3010341499462383,
        -0.8914049728417062,
        0.07662283621811361,
    ]
    y_pts = [
        -0.006420620445441491,
        0.24555229150387087,
        0.07054563409079621,
        -0.29504459898343294,
        0.592054538154714,
    ]
    assert post.mean[0, :, :, 1, 2].flatten()[::7].tolist() == pytest.approx(mean_pts, abs=1e-10)
    assert y[0, :, :, 10, 20].flatten()[::3].tolist() == pytest.approx(y_pts, abs=1e-10)


def test_v1_fields_spelled_out_build_the_same_model():
    torch.manual_seed(0)
    a = CausalVideoVAE(VAEConfig(**SMALL)).double()
    torch.manual_seed(0)
    spelled = {"resample_kernel": 1, "motion_levels": [], "group_mixing": False, "lead_in": "zeros"}
    b = CausalVideoVAE(VAEConfig.from_dict({**VAEConfig(**SMALL).to_dict(), **spelled})).double()
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(
        torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    x = torch.rand(1, 3, 5, 16, 16, dtype=torch.float64)
    assert torch.equal(a.encode(x).mean, b.encode(x).mean)


def test_config_rejects_bad_v2_fields():
    for bad in (
        {"resample_kernel": 2},
        {"motion_levels": [3]},
        {"motion_levels": [1, 1]},
        {"lead_in": "black"},
    ):
        with pytest.raises(ValueError):
            VAEConfig(**SMALL, **bad)
    with pytest.raises(InputError, match="unknown keys"):
        VAEConfig.from_dict({**VAEConfig(**SMALL).to_dict(), "motion_blocks": 1})


# -- warm start from v1 weights -------------------------------------------------------------------
def test_fresh_v2_branches_are_no_ops():
    torch.manual_seed(0)
    m = CausalVideoVAE(VAEConfig(**SMALL, **V2))
    for name, p in m.named_parameters():
        if ".pointwise." in name:
            assert not p.any(), name
        if ".proj.weight" in name:
            assert not p[..., [0, 2], :].any() and not p[..., :, [0, 2]].any(), name


def test_upgrade_from_tiny_weights_reproduces_v1():
    v1 = tiny()
    cfg = dataclasses.replace(v1.config, **V2, lead_in="zeros")
    v2 = CausalVideoVAE(cfg).eval()
    v2.load_state_dict(upgrade_state_dict(v1.state_dict(), v2))
    x = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        a, b = v1.encode(x), v2.encode(x)
        assert (a.mean - b.mean).abs().max() < 1e-5 and (a.logvar - b.logvar).abs().max() < 1e-5
        assert (v1.decode(a.mean) - v2.decode(a.mean)).abs().max() < 1e-5
    # the 1x1 projection sits in the centre tap, new branches are zero
    old = v1.state_dict()["encoder.downs.0.proj.weight"]
    new = v2.state_dict()["encoder.downs.0.proj.weight"]
    assert torch.equal(new[..., 1:2, 1:2], old)
    off_centre = new.clone()
    off_centre[..., 1:2, 1:2] = 0
    assert not off_centre.any()  # (a float sum over the 3x3 kernel would round differently)
    with pytest.raises(ValueError, match="has no"):
        upgrade_state_dict({**v1.state_dict(), "encoder.extra": torch.zeros(1)}, v2)


# -- export -----------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::vaekit.model.UntrainedWeightsWarning")
def test_v2_onnx_export_and_parity(tmp_path):
    from vaekit.export import export, load_profile, open_backend
    from vaekit.export.profiles import Range

    profile = dataclasses.replace(
        load_profile("256p"), name="test", chunk_frames=8, height=Range(32, 32, 32), width=Range(32, 32, 32)
    )
    m = v2_model("replicate", torch.float32)
    result = export(m, "onnx", tmp_path / "v2-onnx", profile=profile, log=lambda _line: None)
    report = json.loads((tmp_path / "v2-onnx" / "parity.onnx.json").read_text())
    assert len(result.files) == 4 and report["passed"] and report["not_run"] == 0
    assert all(c["max_abs_error"] < 1e-3 for c in report["checks"])
    backend = open_backend("onnx", tmp_path / "v2-onnx")
    x = torch.rand(1, 3, 7, 16, 24) * 2 - 1
    with torch.no_grad():
        want = m.encode(x).mean
    assert (encode_all(backend, x, 4, TileSpec(mode="off"))[:, :16] - want).abs().max() < 1e-4


# -- it can move content --------------------------------------------------------------------------
@functools.cache
def _receptive_fields() -> dict[str, torch.Tensor]:
    """Which pixels of frames 5..8 (latent 2's group) latent 2 at the centre sees: ``T, H, W``
    masks for the v2 model and for the v1 structure (the same weights, new branches at zero and
    resample taps centre-only, which is the v1 function)."""
    v2 = v2_model("zeros")
    v1 = CausalVideoVAE(v2.config).to(torch.float64).eval()
    v1.load_state_dict(v2.state_dict())
    with torch.no_grad():
        for name, p in v1.named_parameters():
            if "pointwise" in name.split("."):
                p.zero_()
            if name.endswith("proj.weight"):
                centre = p[..., 1:2, 1:2].clone()
                p.zero_()
                p[..., 1:2, 1:2] = centre
    x = (torch.rand(1, 3, 9, 128, 128, dtype=torch.float64) * 2 - 1).requires_grad_()
    sees = {}
    for name, m in (("v1", v1), ("v2", v2)):
        (grad,) = torch.autograd.grad(m.encode(x).mean[0, :, 2, 8, 8].sum(), x)
        sees[name] = grad.abs().sum(dim=1)[0, 5:9] != 0
    return sees


@pytest.mark.parametrize("slot", [0, 1, 2, 3])
def test_latent_sees_displaced_pixels_of_every_frame_of_its_group(slot):
    """A cut at any slot: latent k of the v2 encoder reaches pixels of that frame of its group,
    off its own position, that the v1 structure cannot see at all (content can move)."""
    sees = _receptive_fields()
    v1, v2 = sees["v1"][slot], sees["v2"][slot]
    assert v2.sum() > v1.sum() > 0
    assert not (v1 & ~v2).any()  # v2 sees all that v1 sees, and more
    assert v2[4].any() and not v1[4].any()  # e.g. 60 pixels above the latent's own position


def test_resample_and_group_mix_layers_cross_frames_spatially():
    """Layer by layer: an output at one position depends on a *displaced* position of another
    frame of its group (v1's 1x1 fold/unfold only on the same position), never on another group."""
    torch.manual_seed(0)

    def dep(layer, x, out_index, in_frame, dy):
        x = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(layer(x)[out_index].sum(), x)
        return g[0, :, in_frame, 4 + dy, 4].abs().sum().item() != 0

    x = torch.rand(1, 8, 4, 8, 8, dtype=torch.float64)
    for kernel, expect in ((1, False), (3, True)):
        down = perturb_(Downsample(8, 16, 1, 2, kernel)).double()
        assert dep(down, x, (0, slice(None), 0, 4, 4), 0, 1) is expect
        assert dep(down, x, (0, slice(None), 0, 4, 4), 2, 0) is False  # another group
        up = perturb_(Upsample(16, 8, 1, 2, kernel)).double()
        z = torch.rand(1, 16, 2, 8, 8, dtype=torch.float64)
        assert dep(up, z, (0, slice(None), 1, 4, 4), 0, 1) is expect
    mix = GroupMix(8, 4).double()
    with torch.no_grad():
        mix.pointwise.weight.normal_()
    for out_frame in range(4):
        for in_frame in range(4):  # both ways inside the group of 4
            assert dep(mix, x, (0, slice(None), out_frame, 4, 4), in_frame, 1)
    x8 = torch.rand(1, 8, 8, 8, 8, dtype=torch.float64)
    assert not dep(mix, x8, (0, slice(None), 3, 4, 4), 4, 0)  # never into the next group


def test_v2_gradient_checkpointing_gives_the_same_gradients():
    m = v2_model("replicate")
    x = torch.rand(1, 3, 5, 16, 16, dtype=torch.float64)
    grads = []
    for ckpt in (False, True):
        m.zero_grad()
        m.train()
        m.encoder.gradient_checkpointing = m.decoder.gradient_checkpointing = ckpt
        x_hat, _ = m(x, sample=False)
        x_hat.square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    m.encoder.gradient_checkpointing = m.decoder.gradient_checkpointing = False
    m.eval()
    assert (grads[0] - grads[1]).abs().max() < 1e-12 and grads[0].abs().max() > 0


def benchmark(name: str):
    """benchmarks/NAME.py as a module (the folder is scripts, not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_tiny_stays_within_the_multiply_add_budget():
    """benchmarks/bench_macs.py's count, on a small clip: the shipped v2 tiny against tiny-v1."""
    bench = benchmark("bench_macs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v1, v2 = load_model("tiny-v1"), load_model("tiny")
    assert v1.config.is_v1 and not v2.config.is_v1
    a, b = (bench.count_macs(m.eval(), 9, 64)["macs_per_pixel_frame"] for m in (v1, v2))
    assert 1.2 < b / a <= bench.BUDGET


def test_branch_rms_reports_the_v2_branches_size():
    """benchmarks/branch_rms.py: zero-initialised branches read 0, a grown one its own RMS, v1 none."""
    bench = benchmark("branch_rms")
    model = CausalVideoVAE(VAEConfig(**{**SMALL, **V2}))
    r = bench.branch_rms(model)
    assert r["branches"] and r["encoder_mean_rms"] == 0.0 and r["decoder_mean_rms"] == 0.0
    name = next(n for n in r["branches"] if n.startswith("decoder"))
    with torch.no_grad():
        model.get_parameter(name).fill_(0.5)
    grown = bench.branch_rms(model)
    assert grown["branches"][name]["rms"] == pytest.approx(0.5)
    assert grown["decoder_mean_rms"] > 0 and grown["encoder_mean_rms"] == 0.0
    assert bench.branch_rms(CausalVideoVAE(VAEConfig(**SMALL)))["branches"] == {}
