"""Trainer building blocks on their own: recipe, losses, discriminator, LPIPS loading, checkpoints, data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from trainkit import PHOTOS

from vaekit.errors import InputError
from vaekit.train import Recipe, losses
from vaekit.train.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from vaekit.train.data import ClipBatches, ClipReader, color_jitter, find_items, make_loader
from vaekit.train.discriminator import PatchDiscriminator3D
from vaekit.train.recipe import tomllib

REPO = Path(__file__).resolve().parents[1]


# -- recipe ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny", "tiny-temporal", "tiny-fast", "tiny-gan", "base"])
def test_shipped_recipes_load_and_round_trip(name):
    recipe = Recipe.from_toml(REPO / "train" / f"{name}.toml")
    again = Recipe.from_mapping(tomllib.loads(recipe.to_toml()))
    assert again == recipe
    if name == "tiny":  # the shipped model's recipe: v2 warm-started from v1, real LPIPS on one frame
        assert recipe.model == "tiny" and recipe.init_weights == "tiny-v1"
        assert recipe.perceptual_weight > 0 and recipe.lpips_frames == 1 and recipe.disc_start < recipe.max_steps
    elif name == "tiny-temporal":  # v2.1's fine-tune: phase 1 with both temporal parts
        assert recipe.rec_part_keys == ("temporal_loss", "pooled_loss")
        assert recipe.disc_start > recipe.max_steps
    elif name == "tiny-fast":  # the shipped weights' fine-tune: the same loss, half the clips fast
        assert recipe.rec_part_keys == ("temporal_loss", "pooled_loss")
        assert recipe.disc_start > recipe.max_steps
        sources = [spec.split(":")[1] for spec in recipe.data]
        assert sources == ["motion", "fastmotion"] and len({spec.split(":")[2] for spec in recipe.data}) == 1
        assert len(find_items(recipe.data)) == 28
    elif name == "tiny-gan":  # phase 2 from v2.2: the same data and loss, the discriminator from step 0
        fast = Recipe.from_toml(REPO / "train" / "tiny-fast.toml")
        assert recipe.disc_start == 0 < recipe.max_steps and recipe.init_weights == "tiny"
        assert (recipe.data, recipe.rec_part_keys, recipe.perceptual_weight) == (
            fast.data, fast.rec_part_keys, fast.perceptual_weight
        )
        assert (recipe.disc_loss, recipe.disc_beta1, recipe.disc_beta2) == ("hinge", 0.5, 0.9)
    else:
        assert recipe.perceptual_weight > 0 and recipe.grad_checkpointing and recipe.mixed_precision == "bf16"


def test_command_line_overrides_the_file_and_none_keeps_it(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[optim]\nlr = 0.5\nbatch_size = 3\n[data]\ndata = ["a"]\n')
    recipe = Recipe.from_toml(path, {"lr": 2e-4, "batch_size": None, "data": ["b", "c"]})
    assert (recipe.lr, recipe.batch_size, recipe.data) == (2e-4, 3, ["b", "c"])


def test_lr_schedule_warms_up_then_holds_or_decays_to_its_floor():
    constant = Recipe(data=["a"], lr=1e-3, warmup_steps=10, max_steps=100)
    assert constant.lr_at(0) == pytest.approx(1e-4) and constant.lr_at(9) == constant.lr_at(99) == 1e-3
    cosine = Recipe(
        data=["a"],
        lr=1e-3,
        warmup_steps=10,
        max_steps=100,
        lr_schedule="cosine",
        lr_decay_start=40,
        min_lr_ratio=0.1,
    )
    assert cosine.lr_at(0) == pytest.approx(1e-4) and cosine.lr_at(40) == pytest.approx(1e-3)
    assert cosine.lr_at(70) == pytest.approx(0.55e-3)  # half way: the mean of lr and the floor
    assert cosine.lr_at(100) == cosine.lr_at(500) == pytest.approx(1e-4)
    rates = [cosine.lr_at(s) for s in range(40, 101)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    # a decay start before the warmup ends waits for it
    early = Recipe(data=["a"], lr=1e-3, warmup_steps=10, max_steps=20, lr_schedule="cosine")
    assert early.lr_at(10) == pytest.approx(1e-3) and early.lr_at(20) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[optim]\nlearning_rate = 1.0\n", "unknown keys ['learning_rate']"),
        ("[optim]\nbatch_size = 1.5\n", "batch_size must be int"),
        ("[run]\nseed = true\n", "seed must be int"),
        ('[optim]\nmixed_precision = "fp8"\n', "mixed_precision must be one of"),
        ("[optim\n", "not valid TOML"),
        ('[optim]\nlr_schedule = "linear"\n', "lr_schedule must be one of"),
        ("[optim]\nmin_lr_ratio = 1.5\n", "min_lr_ratio must be in [0, 1]"),
        ("[gan]\nd_weight_max = 0\n", "d_weight_max must be > 0"),
    ],
)
def test_bad_recipes_are_one_line_input_errors(tmp_path, text, message):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Recipe.from_toml(path)


# -- losses -------------------------------------------------------------------------------------
class _Posterior:
    def __init__(self, kl):
        self._kl = kl

    def kl(self):
        return self._kl


def test_vae_terms_apply_every_weight():
    recipe = Recipe(pixelloss_weight=3.0, kl_weight=0.01, perceptual_weight=2.0)
    x = torch.zeros(2, 3, 1, 4, 4)
    x_hat = torch.full_like(x, 0.5)
    terms = losses.vae_terms(
        recipe, x, x_hat, _Posterior(torch.tensor([10.0, 30.0])), lambda a, b: torch.tensor(0.25)
    )
    assert terms["rec_loss"].item() == pytest.approx(1.5)  # 3 * mean|0.5|: the weight is applied
    assert terms["perception_loss"].item() == pytest.approx(0.5)
    assert terms["nll_loss"].item() == pytest.approx(2.0)
    assert terms["kl_loss"].item() == pytest.approx(20.0)  # summed per item, averaged over the batch
    assert terms["vae_loss"].item() == pytest.approx(2.2)
    l2 = losses.vae_terms(recipe.replace(pixel_loss="l2"), x, x_hat, _Posterior(torch.zeros(2)), None)
    assert l2["rec_loss"].item() == pytest.approx(0.75) and l2["perception_loss"].item() == 0.0


def test_temporal_parts_are_added_to_rec_loss_and_returned_as_their_own_keys():
    """A cross-fade has a small per-pixel error but the wrong frame changes; temporal_loss sees that."""
    x = torch.zeros(1, 1, 2, 8, 8)
    x[:, :, 1] = 1.0  # a hard change between the two frames
    blend = torch.full_like(x, 0.5)  # the cross-fade: both frames half way
    off = Recipe(perceptual_weight=0.0)
    assert off.rec_part_keys == ()
    plain = losses.vae_terms(off, x, blend, _Posterior(torch.zeros(1)), None)
    assert "temporal_loss" not in plain
    assert "pooled_loss" not in plain
    assert plain["rec_loss"].item() == pytest.approx(0.5)
    on = off.replace(temporal_weight=2.0, pooled_weight=3.0)
    assert on.rec_part_keys == ("temporal_loss", "pooled_loss")
    terms = losses.vae_terms(on, x, blend, _Posterior(torch.zeros(1)), None)
    assert terms["temporal_loss"].item() == pytest.approx(2.0)  # 2 * |(1 - 0) - (0.5 - 0.5)|
    assert terms["pooled_loss"].item() == pytest.approx(1.5)  # 3 * mean |8x8 mean error| = 3 * 0.5
    assert terms["rec_loss"].item() == pytest.approx(0.5 + 2.0 + 1.5)
    assert terms["nll_loss"].item() == pytest.approx(terms["rec_loss"].item())
    still = losses.vae_terms(on, x, x, _Posterior(torch.zeros(1)), None)
    assert still["rec_loss"].item() == 0.0
    single = losses.vae_terms(on, x[:, :, :1], blend[:, :, :1], _Posterior(torch.zeros(1)), None)
    assert single["temporal_loss"].item() == 0.0  # one frame has no change to compare


def test_negative_temporal_weights_are_refused():
    with pytest.raises(InputError, match="temporal_weight and pooled_weight must be >= 0"):
        Recipe(temporal_weight=-1.0)


def test_discriminator_terms_hinge_and_vanilla():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-3.0, 1.0])
    hinge = losses.discriminator_terms(Recipe(), real, fake, 1.0)
    assert hinge["disc_loss"].item() == pytest.approx(0.5 * ((0 + 1) / 2 + (0 + 2) / 2))
    assert hinge["logits_real"].item() == pytest.approx(1.0)
    vanilla = losses.discriminator_terms(Recipe(disc_loss="vanilla"), real, fake, 0.5)
    sp = torch.nn.functional.softplus
    expected = 0.5 * 0.5 * (sp(-real).mean() + sp(fake).mean())
    assert vanilla["disc_loss"].item() == pytest.approx(expected.item())


def test_adaptive_weight_is_the_clamped_gradient_norm_ratio():
    torch.manual_seed(0)
    w = torch.randn(4, 3, requires_grad=True)
    h = torch.randn(5, 3) @ w.T
    nll, g = h.pow(2).mean(), -h.sum()
    gn = torch.autograd.grad(nll, w, retain_graph=True)[0].norm()
    gg = torch.autograd.grad(g, w, retain_graph=True)[0].norm()
    d = losses.adaptive_weight(nll, g, w, disc_weight=0.5)
    assert d.item() == pytest.approx(0.5 * (gn / (gg + 1e-4)).item(), rel=1e-6)
    scaled = losses.adaptive_weight(nll, g, w, disc_weight=0.5, grad_scale=1024.0)  # fp16 loss scale
    assert scaled.item() == pytest.approx(d.item(), rel=1e-5)
    assert not d.requires_grad
    assert losses.adaptive_weight(nll, 0 * g, w, 1.0).item() == pytest.approx(1e4)  # clamped
    # d_weight_max caps the weight itself, and only when it binds
    assert losses.adaptive_weight(nll, g, w, 0.5, max_weight=0.5 * d.item()).item() == pytest.approx(
        0.5 * d.item()
    )
    assert losses.adaptive_weight(nll, g, w, 0.5, max_weight=2 * d.item()).item() == pytest.approx(d.item())


def test_phase1_terms_keep_the_identities_with_zeros():
    vae = {k: torch.tensor(v) for k, v in {"rec_loss": 1.0, "perception_loss": 0.0, "nll_loss": 1.0,
                                           "kl_loss": 5.0, "vae_loss": 1.5}.items()}  # fmt: skip
    terms = losses.phase1_terms(vae)
    assert terms["total_loss"].item() == 1.5
    assert all(
        terms[k].item() == 0.0 for k in ("g_loss", "d_weight", "disc_factor", "disc_loss", "logits_real")
    )


# -- discriminator ------------------------------------------------------------------------------
@pytest.mark.parametrize("frames", [1, 5, 9])
def test_discriminator_scores_patches_of_any_clip_length(frames):
    d = PatchDiscriminator3D(channels=8, layers=2)
    x = torch.randn(2, 3, frames, 32, 32)
    out = d(x)
    assert out.shape[:2] == (2, 1) and out.shape[2] >= 1 and out.shape[3] > 1
    # GroupNorm: a clip's score does not depend on the rest of the batch
    torch.testing.assert_close(d(x[:1]), out[:1])


# -- checkpoints --------------------------------------------------------------------------------
def test_checkpoints_keep_the_last_n_and_refuse_pickled_objects(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, {"step": step, "w": torch.ones(2) * step}, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000002.pt", "step_00000003.pt"]
    assert load_checkpoint(list_checkpoints(tmp_path)[-1])["w"].tolist() == [3.0, 3.0]
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temporary files left

    evil = tmp_path / "evil.pt"
    torch.save({"format": "vaekit-train-checkpoint", "version": 1, "obj": Path("x")}, evil)
    with pytest.raises(InputError, match="cannot read checkpoint"):
        load_checkpoint(evil)


# -- data ---------------------------------------------------------------------------------------
def _batches(world_size, rank, batch_size, steps, workers=0):
    items = find_items([PHOTOS])
    data = ClipBatches(
        items, ClipReader(5, 32, 1), seed=7, batch_size=batch_size, rank=rank, world_size=world_size
    )
    return [b["video"] for b in make_loader(data, 2, 2 + steps, workers, pin_memory=False)]


def test_batches_do_not_depend_on_workers_and_ranks_split_the_global_batch():
    single = _batches(1, 0, 4, steps=3)
    assert single[0].shape == (4, 3, 5, 32, 32)
    for a, b in zip(single, _batches(1, 0, 4, steps=3, workers=2)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    ranks = [_batches(2, r, 2, steps=3) for r in (0, 1)]
    for step, whole in enumerate(single):
        torch.testing.assert_close(torch.cat([ranks[0][step], ranks[1][step]]), whole, rtol=0, atol=0)
    assert not torch.equal(single[0], single[1])


def test_videos_and_images_make_separate_batches(tmp_path, sample_clip, still_image_png):
    shutil.copy(sample_clip, tmp_path / "a.mp4")
    for name in ("b.png", "c.png"):
        shutil.copy(still_image_png, tmp_path / name)
    items = find_items([str(tmp_path)])
    data = ClipBatches(items, ClipReader(9, 32, 2), seed=0, batch_size=2)
    frames = [data[step]["video"].shape[2] for step in range(6)]
    assert sorted(frames) == [1, 1, 1, 1, 9, 9]  # 2 images : 1 video
    with pytest.raises(InputError, match="has no videos or images"):
        find_items([str(tmp_path / "*.avi")])


def test_a_video_too_short_for_the_clip_is_skipped_with_the_reason(tmp_path, sample_clip):
    items = find_items([str(sample_clip)])  # 17 frames
    reader = ClipReader(9, 32, 3)  # needs (9 - 1) * 3 + 1 = 25 frames
    with pytest.raises(
        InputError,
        match="no video in the data gives a clip; first problem: .* has 17 frames; a clip needs 25",
    ):
        ClipBatches(items, reader, seed=0, batch_size=1)[0]


def test_color_jitter_changes_colours_alike_on_every_frame():
    frame = torch.rand(3, 1, 8, 8) * 2 - 1
    clip = frame.expand(3, 5, 8, 8).contiguous()  # five identical frames
    outs = [color_jitter(clip, torch.Generator().manual_seed(s)) for s in range(8)]
    for out in outs:
        assert out.shape == clip.shape and out.min() >= -1 and out.max() <= 1
        assert torch.equal(out, out[:, :1].expand_as(out))  # one colour change for the whole clip
    assert len({tuple(o.mean(dim=(1, 2, 3)).round(decimals=3).tolist()) for o in outs}) == 8
    again = color_jitter(clip, torch.Generator().manual_seed(3))
    assert torch.equal(again, outs[3])  # deterministic per generator: resumed runs see the same clips


def test_color_augment_is_a_training_only_reader_option():
    items = find_items([PHOTOS])
    plain = ClipReader(5, 32, 1).read(items[0], torch.Generator().manual_seed(0))
    jittered = ClipReader(5, 32, 1, color_augment=True).read(items[0], torch.Generator().manual_seed(0))
    assert plain.shape == jittered.shape and not torch.equal(plain, jittered)
    assert Recipe().color_augment is False  # off unless a recipe asks (train/tiny.toml does)


# -- warm start across architectures ------------------------------------------------------------
def test_init_weights_of_a_v1_model_warm_start_a_v2_model(tmp_path):
    """A v2 recipe with v1 init_weights starts as the v1 model (new branches are no-ops)."""
    from modelkit import SMALL, small_model
    from trainkit import small_recipe

    from vaekit.model import VAEConfig, load_model, save_model
    from vaekit.train import train

    v1 = save_model(small_model(torch.float32, seed=3), tmp_path / "v1")
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "config.json").write_text(
        VAEConfig(**SMALL, resample_kernel=3, motion_levels=[1, 2], group_mixing=True).to_json()
    )
    start = load_model(train(small_recipe(v2, tmp_path / "run", init_weights=str(v1), max_steps=0))["model"])
    assert not start.config.is_v1
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(start.encode(x).mean, load_model(v1).encode(x).mean, atol=1e-5, rtol=1e-5)
    (v2 / "config.json").write_text(VAEConfig(**{**SMALL, "channels": [8, 16, 32]}).to_json())
    with pytest.raises(InputError, match="another architecture"):
        train(small_recipe(v2, tmp_path / "run2", init_weights=str(v1), max_steps=0))
