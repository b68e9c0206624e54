"""The command line, through click's runner and as a real subprocess, including bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from modelkit import small_model
from test_video_io import ffprobe_streams, needs_ffprobe

from vaekit.cli import main
from vaekit.io.latent_file import LatentReader
from vaekit.io.synthetic import write_sample_clip
from vaekit.io.video import frame_count_exact, probe
from vaekit.model import save_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small model folder with (random) weights: fast, and loads without the untrained warning."""
    return save_model(small_model(torch.float32, seed=1), tmp_path_factory.mktemp("models") / "small")


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory):
    return save_model(small_model(torch.float32, seed=2), tmp_path_factory.mktemp("models") / "other")


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def no_temp_files(folder):
    return not [p for p in folder.iterdir() if ".tmp-" in p.name]


def test_encode_decode_restores_size_frames_fps(tmp_path, odd_clip, model_dir):
    latent = tmp_path / "odd.latent.safetensors"
    r = run("encode", odd_clip, "-o", latent, "--model", model_dir)
    assert str(latent) in r.stdout and "250x150" in r.stdout
    info = LatentReader(latent).info
    assert (info.source_width, info.source_height, info.frame_count) == (250, 150, 10)
    assert info.fps == Fraction(30000, 1001) and info.model_name == "small"
    out = tmp_path / "odd.mp4"
    run("decode", latent, "-o", out, "--model", model_dir)
    v = probe(out)
    assert (v.width, v.height, v.fps) == (250, 150, Fraction(30000, 1001))
    assert frame_count_exact(out) == 10
    assert no_temp_files(tmp_path)


def test_default_outputs_beside_inputs_and_folders(tmp_path, sample_clip, still_image_png, model_dir):
    src = tmp_path / "in"
    src.mkdir()
    for f in (sample_clip, still_image_png):
        (src / f.name).write_bytes(f.read_bytes())
    r = run("encode", src, "--model", model_dir, "--json")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [os.path.basename(d["output"]) for d in lines] == [
        "sample.latent.safetensors",
        "still.latent.safetensors",
    ]
    assert lines[1]["frames"] == 1 and lines[1]["width"] == 301 and lines[1]["height"] == 201
    out = tmp_path / "out"
    r = run("decode", src, "-o", out, "--model", model_dir, "--json")
    assert sorted(p.name for p in out.iterdir()) == ["sample.decoded.mp4", "still.decoded.mp4"]
    still = probe(out / "still.decoded.mp4")
    assert (still.width, still.height) == (301, 201) and frame_count_exact(out / "still.decoded.mp4") == 1
    # beside the inputs, the decoded videos never take the source's name
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    run("decode", src, "--model", model_dir)
    assert {n: (src / n).read_bytes() for n in before} == before
    assert {"sample.decoded.mp4", "still.decoded.mp4"} <= {p.name for p in src.iterdir()}
    # roundtrip takes folders too: every video in it, NAME.roundtrip.mp4 / .png beside each
    rt = run("roundtrip", src / "sample.mp4", src / "still.png", "--model", model_dir, "--json")
    assert [os.path.basename(json.loads(x)["output"]) for x in rt.stdout.splitlines()] == [
        "sample.roundtrip.mp4",
        "still.roundtrip.png",
    ]


def test_one_frame_results_can_be_written_as_images(tmp_path, still_image_png, sample_clip, model_dir):
    import skimage.io

    latent = tmp_path / "still.latent.safetensors"
    run("encode", still_image_png, "-o", latent, "--model", model_dir)
    run("decode", latent, "-o", tmp_path / "still.png", "--model", model_dir)
    run("decode", latent, "-o", tmp_path / "still.jpg", "--model", model_dir)
    png, jpg = skimage.io.imread(tmp_path / "still.png"), skimage.io.imread(tmp_path / "still.jpg")
    assert png.shape == jpg.shape == (201, 301, 3) and png.dtype == np.uint8
    # the same picture, jpeg-compressed (random weights give noise, so compare the picture's mean colour)
    assert np.abs(png.mean(axis=(0, 1)) - jpg.mean(axis=(0, 1))).max() < 2
    assert (tmp_path / "still.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    rt = run("roundtrip", still_image_png, "-o", tmp_path / "rt.png", "--model", model_dir, "--json")
    assert json.loads(rt.stdout)["frames"] == 1
    assert np.array_equal(skimage.io.imread(tmp_path / "rt.png"), png)  # png is lossless

    clip_latent = tmp_path / "clip.latent.safetensors"
    run("encode", sample_clip, "-o", clip_latent, "--model", model_dir)
    r = run("decode", clip_latent, "-o", tmp_path / "clip.png", "--model", model_dir, ok=False)
    assert r.exit_code == 3 and "17 frames" in r.output and "write a video" in r.output
    r = run(
        "decode",
        latent,
        "-o",
        tmp_path / "a.png",
        "--model",
        model_dir,
        "--audio-from",
        sample_clip,
        ok=False,
    )
    assert r.exit_code == 3 and "cannot carry audio" in r.output
    assert not (tmp_path / "clip.png").exists() and not (tmp_path / "a.png").exists()
    assert no_temp_files(tmp_path)


def test_phone_video_comes_back_upright(tmp_path, phone_clip, model_dir):
    latent = tmp_path / "phone.latent.safetensors"
    r = run("encode", phone_clip, "-o", latent, "--model", model_dir)
    assert "48x64" in r.stdout  # the displayed size, not the stored 64x48
    assert (LatentReader(latent).info.source_width, LatentReader(latent).info.source_height) == (48, 64)
    out = tmp_path / "phone.decoded.mp4"
    run("decode", latent, "-o", out, "--model", model_dir)
    decoded = probe(out)
    assert (decoded.width, decoded.height, decoded.rotation) == (48, 64, 0)  # upright, no matrix needed
    rt = json.loads(
        run("roundtrip", phone_clip, "-o", tmp_path / "rt.mp4", "--model", model_dir, "--json").stdout
    )
    assert rt["frames"] == 9 and probe(tmp_path / "rt.mp4").width == 48


def test_roundtrip_reports_quality(tmp_path, sample_clip, model_dir):
    r = run(
        "roundtrip",
        sample_clip,
        "-o",
        tmp_path / "rt.mp4",
        "--model",
        model_dir,
        "--json",
        "--chunk-frames",
        "8",
    )
    d = json.loads(r.stdout)
    assert d["frames"] == 17 and 0 < d["psnr"] < 60 and -1 <= d["ssim"] <= 1
    assert frame_count_exact(tmp_path / "rt.mp4") == 17


def test_audio_from_copies_the_track(tmp_path, audio_clip, model_dir):
    latent = tmp_path / "a.latent.safetensors"
    run("encode", audio_clip, "-o", latent, "--model", model_dir)
    run("decode", latent, "-o", tmp_path / "a.mp4", "--model", model_dir, "--audio-from", audio_clip)
    assert probe(tmp_path / "a.mp4").has_audio
    run("decode", latent, "-o", tmp_path / "silent.mp4", "--model", model_dir)
    assert not probe(tmp_path / "silent.mp4").has_audio


def test_info_on_latent_and_model(tmp_path, sample_clip, model_dir):
    latent = tmp_path / "s.latent.safetensors"
    e = json.loads(run("encode", sample_clip, "-o", latent, "--model", model_dir, "--json").stdout)
    d = json.loads(run("info", latent, "--json").stdout)
    assert d["frame_count"] == 17 and d["model"] == "small"
    # the same types as encode --json: a list for the shape, fps as its rational, plus a number
    assert d["latent_shape"] == e["latent_shape"] == [16, 5, 32, 32]
    assert d["fps"] == e["fps"] == "24/1" and d["fps_value"] == 24.0 and d["source_size"] == [256, 256]
    assert "16x5x32x32" in run("info", latent).stdout  # text for people
    m = json.loads(run("info", model_dir, "--json").stdout)
    assert m["trained_weights"] is True and m["weights_sha256"] == d["model_sha256"]
    assert "4x8x8" in run("info", "tiny").stdout


def test_stats_writes_normalisation_into_the_model(tmp_path, sample_clip, model_dir):
    folder = tmp_path / "m"
    folder.mkdir()
    for f in model_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    d = json.loads(run("stats", sample_clip, "--model", folder, "--json").stdout)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["latents_mean"] == d["latents_mean"] and len(cfg["latents_std"]) == 16
    assert all(s > 0 for s in cfg["latents_std"])
    import vaekit

    vae = vaekit.load(folder)
    z = vae.encode_video(sample_clip).latent_dist.mean
    zn = vae.normalize(z)
    assert abs(zn.mean().item()) < 0.2 and 0.8 < zn.std().item() < 1.2  # stats came from this very clip


# -- bad input: one clear line, non-zero exit, nothing left behind -------------------------
@pytest.mark.parametrize(
    "fixture,match",
    [
        ("text_as_mp4", "not a video file"),
        ("truncated_mp4", "truncated or corrupt"),
        ("zero_frame_video", "no video frames"),
    ],
)
def test_bad_videos(request, tmp_path, model_dir, fixture, match):
    src = request.getfixturevalue(fixture)
    out = tmp_path / "x.latent.safetensors"
    r = run("encode", src, "-o", out, "--model", model_dir, ok=False)
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and match in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_input(tmp_path, model_dir):
    r = run("encode", tmp_path / "nope.mp4", "--model", model_dir, ok=False)
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_latent_from_another_model_is_refused(tmp_path, sample_clip, model_dir, other_model_dir):
    latent = tmp_path / "s.latent.safetensors"
    run("encode", sample_clip, "-o", latent, "--model", model_dir)
    r = run("decode", latent, "-o", tmp_path / "s.mp4", "--model", other_model_dir, ok=False)
    assert (
        r.exit_code == 4
        and f"was encoded by model 'small' (weights {LatentReader(latent).info.model_sha256[:12]}" in r.stderr
    )
    assert "same name, other weights" in r.stderr  # both models are called 'small'
    assert f"decode it with --model {model_dir.resolve()} (the folder that encoded it" in r.stderr
    assert not (tmp_path / "s.mp4").exists() and no_temp_files(tmp_path)


def test_latent_of_a_preset_names_that_preset(tmp_path, sample_clip, model_dir):
    latent = tmp_path / "t.latent.safetensors"
    run("encode", sample_clip, "-o", latent, "--model", "tiny")
    r = run("decode", latent, "-o", tmp_path / "t.mp4", "--model", model_dir, ok=False)
    assert r.exit_code == 4 and "decode it with --model tiny (the preset with those weights)" in r.stderr


def test_tampered_latent_is_refused(tmp_path, sample_clip, model_dir):
    from safetensors.torch import load_file, save_file

    from vaekit.io.latent_file import LatentReader

    latent = tmp_path / "s.latent.safetensors"
    run("encode", sample_clip, "-o", latent, "--model", model_dir)
    meta = LatentReader(latent).info.to_metadata()
    save_file(
        {"mean": load_file(str(latent))["mean"][:, :3].contiguous()}, str(latent), metadata=meta
    )  # cut frames
    r = run("decode", latent, "--model", model_dir, ok=False)
    assert r.exit_code == 2 and "does not match its metadata" in r.stderr


def test_an_output_never_replaces_an_input_or_another_output(
    tmp_path, sample_clip, still_image_png, model_dir
):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(sample_clip.read_bytes())
    r = run("roundtrip", clip, "-o", clip, "--model", model_dir, ok=False)
    assert r.exit_code == 2 and "would overwrite the input" in r.stderr
    assert clip.read_bytes() == sample_clip.read_bytes()
    (tmp_path / "a.png").write_bytes(still_image_png.read_bytes())
    r = run("encode", tmp_path, "--model", model_dir, ok=False)  # a.mp4 and a.png -> a.latent...
    assert r.exit_code == 2 and "would both be written to" in r.stderr and "a.latent.safetensors" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "a.png"]  # refused before any work
    latent = tmp_path / "x.latent.safetensors"
    run("encode", clip, "-o", latent, "--model", model_dir)
    r = run("decode", latent, "-o", clip, "--audio-from", clip, "--model", model_dir, ok=False)
    assert r.exit_code == 2 and "would overwrite the input" in r.stderr
    r = run("roundtrip", clip, tmp_path / "a.png", "-o", tmp_path / "new", "--audio-from", clip, ok=False)
    assert r.exit_code == 2 and "--audio-from takes one input" in r.stderr
    assert not (tmp_path / "new").exists()  # refused before the -o folder is made
    assert clip.read_bytes() == sample_clip.read_bytes()


def test_rerunning_on_a_folder_skips_last_runs_outputs(tmp_path, sample_clip, model_dir):
    (tmp_path / "a.mp4").write_bytes(sample_clip.read_bytes())
    for _ in range(2):
        r = run("roundtrip", tmp_path, "--model", model_dir, "--json")
        assert [os.path.basename(json.loads(x)["output"]) for x in r.stdout.splitlines()] == [
            "a.roundtrip.mp4"
        ]
    run("encode", tmp_path, "--model", model_dir)
    run("decode", tmp_path, "--model", model_dir)
    r = run("encode", tmp_path, "--model", model_dir, "--json")  # a.decoded.mp4 is not an input
    assert [os.path.basename(json.loads(x)["output"]) for x in r.stdout.splitlines()] == [
        "a.latent.safetensors"
    ]


def test_the_fingerprint_is_the_fp32_weights_until_other_weights_are_loaded(model_dir, other_model_dir):
    from vaekit.model import load_model
    from vaekit.runtime.backend import TorchBackend

    fp32 = TorchBackend(load_model(model_dir)).model_sha256
    assert TorchBackend(load_model(model_dir).half()).model_sha256 == fp32  # cast after loading
    model = load_model(model_dir, dtype=torch.bfloat16)
    assert TorchBackend(model).model_sha256 == fp32
    model.load_state_dict(load_model(other_model_dir, dtype=torch.bfloat16).state_dict())
    assert TorchBackend(model).model_sha256 != fp32  # hashed as it now is, not as it was loaded


def test_latents_decode_at_any_dtype_of_the_same_model(tmp_path, sample_clip, model_dir):
    latent = tmp_path / "s.latent.safetensors"
    run("encode", sample_clip, "-o", latent, "--model", model_dir, "--dtype", "bf16")
    run("decode", latent, "-o", tmp_path / "s.mp4", "--model", model_dir)  # fp32: the same model
    assert frame_count_exact(tmp_path / "s.mp4") == 17
    run("decode", latent, "-o", tmp_path / "h.mp4", "--model", model_dir, "--dtype", "fp16")
    assert frame_count_exact(tmp_path / "h.mp4") == 17


def test_unwritable_output_folder(tmp_path, sample_clip, still_image_png, model_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("encode", sample_clip, still_image_png, "-o", blocker / "sub", "--model", model_dir, ok=False)
    assert (
        r.exit_code == 3 and r.stderr.startswith("error: cannot create folder") and r.stderr.count("\n") == 1
    )
    r = run("demo", "-o", blocker / "demo", "--model", model_dir, ok=False)
    assert r.exit_code == 3 and "cannot create folder" in r.stderr


def test_unwritable_output(tmp_path, sample_clip, model_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("encode", sample_clip, "-o", blocker / "out.latent.safetensors", "--model", model_dir, ok=False)
    assert r.exit_code == 3 and r.stderr.startswith("error: cannot write")


def test_bad_options_are_usage_errors(sample_clip, model_dir):
    r = run("encode", sample_clip, "--model", model_dir, "--chunk-frames", "6", ok=False)
    assert r.exit_code == 2 and "multiple of 4" in r.output
    r = run("encode", sample_clip, "--model", "no-such-model", ok=False)
    assert r.exit_code == 2 and "no model folder or preset" in r.stderr


# -- as a real process ----------------------------------------------------------------------
def test_subprocess_quiet_stderr_when_not_a_terminal(tmp_path, sample_clip, model_dir):
    out = tmp_path / "s.latent.safetensors"
    p = subprocess.run(
        [sys.executable, "-m", "vaekit", "encode", sample_clip, "-o", out, "--model", model_dir],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0 and p.stderr == "" and str(out) in p.stdout
    p = subprocess.run(
        ["vaekit", "decode", out, "--model", "tiny", "-q"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 4 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1


def test_ctrl_c_leaves_no_partial_output(tmp_path, model_dir):
    src = write_sample_clip(tmp_path / "long.mp4", num_frames=240, width=128, height=128)
    out = tmp_path / "long.latent.safetensors"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vaekit",
            "encode",
            src,
            "-o",
            out,
            "--model",
            model_dir,
            "--chunk-frames",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not [f for f in tmp_path.iterdir() if ".tmp-" in f.name]:
        time.sleep(0.05)  # wait until it is writing
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["long.mp4"]


def test_demo_writes_files_and_compares_with_the_baseline(tmp_path, model_dir):
    r = run("demo", "-o", tmp_path / "d", "--model", model_dir, "--frames", "9", "--size", "64", "--json")
    d = json.loads(r.stdout)
    for key in ("source", "latent", "decoded"):
        assert os.path.exists(d[key])
    assert frame_count_exact(d["decoded"]) == 9 and LatentReader(d["latent"]).info.frame_count == 9
    assert 0 < d["baseline_psnr"] < 60 and 0 < d["psnr"] < 60


@needs_ffprobe
@pytest.mark.parametrize("fixture", ["sample_clip", "odd_clip", "still_image_png"])
def test_ffprobe_reads_decoded_videos_with_the_source_geometry(request, tmp_path, model_dir, fixture):
    src = request.getfixturevalue(fixture)
    latent = tmp_path / "x.latent.safetensors"
    run("encode", src, "-o", latent, "--model", model_dir)
    run("decode", latent, "-o", tmp_path / "x.mp4", "--model", model_dir)
    info = LatentReader(latent).info
    (video,) = [s for s in ffprobe_streams(tmp_path / "x.mp4") if s["codec_type"] == "video"]
    assert (video["width"], video["height"]) == (info.source_width, info.source_height)
    assert int(video["nb_read_frames"]) == info.frame_count
    assert Fraction(video["r_frame_rate"]) == info.fps
