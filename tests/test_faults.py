"""Promises under faults: SIGTERM/SIGHUP, temporaries of killed runs, altered latent files,
presets that must not be rewritten, and the warning for slow half precision on the CPU."""

import dataclasses
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from modelkit import small_model
from safetensors.torch import load_file, save_file

from vaekit import api
from vaekit.cli import main
from vaekit.errors import InputError
from vaekit.export import ExportError, export, load_profile, parity
from vaekit.export.profiles import Range
from vaekit.interrupt import Terminated, signals_as_interrupts
from vaekit.io.atomic import _host_tag, atomic_output, remove_stale_temporaries
from vaekit.io.latent_file import (
    CHECKSUM_KEY,
    LatentInfo,
    LatentReader,
    LatentWriter,
    UnverifiedLatentWarning,
)
from vaekit.io.synthetic import write_sample_clip
from vaekit.model import load_model, resolve_model_dir, save_model, weights_sha256


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(small_model(torch.float32, seed=1), tmp_path_factory.mktemp("models") / "small")


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    """64x64, 9 frames: enough for a real latent file, fast with the small model."""
    return write_sample_clip(tmp_path_factory.mktemp("clips") / "c.mp4", num_frames=9, width=64, height=64)


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- SIGTERM / SIGHUP ------------------------------------------------------------------------
def _vaekit(*args) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "vaekit", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _terminate_while_writing(p: subprocess.Popen, folder, sig=signal.SIGTERM) -> str:
    """Wait until ``p`` has a temporary file in ``folder``, send ``sig``, return its stderr."""
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        if [f for f in folder.iterdir() if ".tmp-" in f.name]:
            break
        time.sleep(0.02)
    assert p.poll() is None, "the command ended before it was signalled: " + p.communicate()[1]
    time.sleep(0.3)
    assert p.poll() is None, "the command ended before it was signalled (make its input longer)"
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    return err


def test_sigterm_during_encode_exits_143_and_leaves_only_the_input(tmp_path, model_dir):
    src = write_sample_clip(tmp_path / "long.mp4", num_frames=1200, width=64, height=64)  # ~1.5 s at ~800 frames/s
    p = _vaekit("encode", src, "--model", model_dir, "--chunk-frames", "4")
    err = _terminate_while_writing(p, tmp_path)
    assert p.returncode == 143, err
    assert error_lines(err) == [err.strip()] and "terminated by SIGTERM" in err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["long.mp4"]  # no temp, no .mean scratch


def test_sigterm_during_decode_exits_143_and_leaves_only_the_input(tmp_path, model_dir):
    # a long latent file written directly (random latents of the small model: no slow encode first)
    model = load_model(model_dir)
    latent = tmp_path / "long.latent.safetensors"
    frames = 961  # 241 latent frames: seconds of decoding, so the signal lands mid-write
    with LatentWriter(latent) as w:
        gen = torch.Generator().manual_seed(0)
        for _ in range(241):
            w.write(torch.randn(16, 1, 8, 8, generator=gen))
        w.info = LatentInfo(
            model_name="small",
            model_sha256=weights_sha256(model),
            source_width=64,
            source_height=64,
            padded_width=64,
            padded_height=64,
            frame_count=frames,
            fps=Fraction(24),
            dtype="",
            latent_channels=16,
            temporal_compression=4,
            spatial_compression=8,
        )
    p = _vaekit("decode", latent, "--model", model_dir, "--chunk-frames", "4")
    err = _terminate_while_writing(p, tmp_path)
    assert p.returncode == 143, err
    assert error_lines(err) == [err.strip()] and "terminated by SIGTERM" in err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["long.latent.safetensors"]


def test_sighup_and_sigterm_raise_terminated_and_clean_up(tmp_path):
    # default dispositions, as a shell starts a command (the test runner may run under nohup)
    before = {s: signal.signal(s, signal.SIG_DFL) for s in (signal.SIGHUP, signal.SIGTERM)}
    try:
        for sig, code in ((signal.SIGHUP, 129), (signal.SIGTERM, 143)):
            with pytest.raises(Terminated) as caught, signals_as_interrupts():
                with atomic_output(tmp_path / "x.mp4") as temp:
                    temp.write_bytes(b"partial")
                    os.kill(os.getpid(), sig)
                    time.sleep(1)  # the handler raises before this ends
            assert caught.value.exit_code == code and isinstance(caught.value, KeyboardInterrupt)
            assert list(tmp_path.iterdir()) == []
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the previous handlers are back
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_a_signal_ignored_on_purpose_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts a process
    try:
        with signals_as_interrupts():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_a_killed_run_are_removed_by_the_next_run(tmp_path, small_clip, model_dir):
    host, dead = _host_tag(), _dead_pid()
    other_host = "000000" if host != "000000" else "111111"
    stale = [
        tmp_path / f".c.latent.tmp-{dead}-{host}-0123abcd.safetensors",
        tmp_path / f".c.latent.tmp-{dead}-{host}-0123abcd.safetensors.mean",  # its scratch
    ]
    kept = [
        tmp_path / f".c.latent.tmp-{os.getppid()}-{host}-89abcdef.safetensors",  # a live process
        tmp_path / f".c.latent.tmp-{dead}-{other_host}-0123abcd.safetensors",  # made on another host
        tmp_path / f".other.latent.tmp-{dead}-{host}-0123abcd.safetensors",  # another output
    ]
    for f in stale + kept:
        f.write_bytes(b"x" * 100)
    out = tmp_path / "c.latent.safetensors"
    run("encode", small_clip, "-o", out, "--model", model_dir)
    assert out.is_file() and not any(f.exists() for f in stale) and all(f.exists() for f in kept)
    assert remove_stale_temporaries(out) == []


def test_temporary_names_embed_pid_and_host(tmp_path):
    with atomic_output(tmp_path / "a.latent.safetensors") as temp:
        assert temp.name.startswith(f".a.latent.tmp-{os.getpid()}-{_host_tag()}-")
        assert temp.name.endswith(".safetensors")


# -- latent integrity ------------------------------------------------------------------------
@pytest.fixture
def latent(tmp_path, small_clip, model_dir):
    out = tmp_path / "c.latent.safetensors"
    run("encode", small_clip, "-o", out, "--model", model_dir)
    return out


def _data_start(path) -> int:
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    return 8 + n


def test_checksum_is_the_blake2b_of_the_stored_tensor_bytes(latent):
    raw = latent.read_bytes()
    meta = json.loads(raw[8 : _data_start(latent)])["__metadata__"]
    assert meta[CHECKSUM_KEY] == hashlib.blake2b(raw[_data_start(latent) :], digest_size=32).hexdigest()
    assert set(load_file(str(latent))) == {"mean"}  # still a plain safetensors file
    assert LatentReader(latent).checksum == meta[CHECKSUM_KEY]


def test_flipped_bytes_are_refused(tmp_path, latent, model_dir):
    raw = bytearray(latent.read_bytes())
    at = _data_start(latent) + (len(raw) - _data_start(latent)) // 3
    raw[at : at + 16] = bytes(b ^ 0xFF for b in raw[at : at + 16])
    latent.write_bytes(bytes(raw))
    for cmd in (["decode", latent], ["info", latent]):
        r = run(*cmd, "--model", model_dir, ok=False) if cmd[0] == "decode" else run(*cmd, ok=False)
        assert r.exit_code == 2, r.stderr
        assert error_lines(r.stderr) == [r.stderr.strip()] and "does not match the checksum" in r.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["c.latent.safetensors"]  # nothing written
    with pytest.raises(InputError, match="checksum"):
        LatentReader(latent)


def test_nans_with_a_matching_checksum_are_refused(tmp_path, latent, model_dir):
    raw = bytearray(latent.read_bytes())
    start = _data_start(latent)
    values = np.frombuffer(raw, np.float32, offset=start).copy()
    values[np.random.default_rng(0).choice(values.size, 64, replace=False)] = np.nan
    raw[start:] = values.tobytes()
    meta_at = raw.index(f'"{CHECKSUM_KEY}":"'.encode()) + len(CHECKSUM_KEY) + 4
    raw[meta_at : meta_at + 64] = hashlib.blake2b(bytes(raw[start:]), digest_size=32).hexdigest().encode()
    latent.write_bytes(bytes(raw))
    r = run("decode", latent, "--model", model_dir, ok=False)
    assert r.exit_code == 2, r.stderr
    assert error_lines(r.stderr) == [r.stderr.strip()] and "64 latent values are not finite" in r.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["c.latent.safetensors"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_non_finite_half_values_are_found(tmp_path, dtype):
    path = tmp_path / "h.latent.safetensors"
    z = torch.zeros(4, 3, 3, 4)
    z[1, 2, 0, 0], z[3, 0, 2, 1] = float("nan"), float("inf")
    with LatentWriter(path, dtype) as w:
        w.write(z)
        w.info = LatentInfo("m", "ab" * 32, 30, 20, 32, 24, 9, Fraction(24), "", 4, 4, 8)
    with pytest.raises(InputError, match="2 latent values are not finite"):
        LatentReader(path)


def test_a_file_from_before_checksums_decodes_with_a_note(tmp_path, latent, model_dir):
    meta = LatentReader(latent).info.to_metadata()
    assert CHECKSUM_KEY not in meta
    old = tmp_path / "old.latent.safetensors"
    save_file(load_file(str(latent)), str(old), metadata=meta)
    r = run("decode", old, "--model", model_dir)
    notes = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(notes) == 1 and "no data checksum" in notes[0] and (tmp_path / "old.decoded.mp4").is_file()
    with pytest.warns(UnverifiedLatentWarning):
        assert LatentReader(old).checksum is None
    assert "not verified" in run("info", old).stdout


# -- presets are never rewritten -------------------------------------------------------------
def test_stats_refuses_the_shipped_preset_and_leaves_it_unchanged(small_clip):
    config = resolve_model_dir("tiny") / "config.json"
    before = config.read_bytes()
    for extra in ([], ["--json"]):
        r = run("stats", small_clip, "--model", "tiny", *extra, ok=False)
        assert r.exit_code == 3 and error_lines(r.stderr) == [r.stderr.strip()]
        assert "shipped preset" in r.stderr and "cp -r" in r.stderr and "--dry-run" in r.stderr
    r = run("stats", small_clip, "--model", resolve_model_dir("tiny"), ok=False)  # by path, too
    assert r.exit_code == 3 and "shipped preset" in r.stderr
    d = json.loads(run("stats", small_clip, "--model", "tiny", "--dry-run", "--json").stdout)
    assert len(d["latents_mean"]) == 16 and "written_to" not in d
    assert config.read_bytes() == before


def test_stats_updates_a_copy_of_a_model_folder(tmp_path, small_clip, model_dir):
    folder = tmp_path / "mine"
    folder.mkdir()
    for f in model_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    d = json.loads(run("stats", small_clip, "--model", folder, "--json").stdout)
    assert d["written_to"] == str(folder / "config.json")
    assert json.loads((folder / "config.json").read_text())["latents_std"] == d["latents_std"]
    assert (model_dir / "config.json").read_bytes() != (folder / "config.json").read_bytes()


# -- half precision on the CPU ---------------------------------------------------------------
def _warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_half_precision_on_a_cpu_without_native_kernels_warns_once(
    tmp_path, small_clip, model_dir, monkeypatch
):
    monkeypatch.setattr(api, "native_half_on_cpu", lambda dtype: False)
    for dtype in ("fp16", "bf16"):
        r = run("encode", small_clip, "-o", tmp_path / f"{dtype}.latent.safetensors", "--model", model_dir,
                "--dtype", dtype, "--device", "cpu")  # fmt: skip
        (line,) = _warnings(r.stderr)
        assert f"{dtype} on this CPU runs far slower than fp32" in line and "--dtype fp32" in line
    r = run("encode", small_clip, "-o", tmp_path / "fp32.latent.safetensors", "--model", model_dir,
            "--dtype", "fp32", "--device", "cpu")  # fmt: skip
    assert _warnings(r.stderr) == []
    monkeypatch.setattr(api, "native_half_on_cpu", lambda dtype: True)  # e.g. AVX512-FP16 / AMX
    r = run("encode", small_clip, "-o", tmp_path / "n.latent.safetensors", "--model", model_dir,
            "--dtype", "fp16")  # fmt: skip
    assert _warnings(r.stderr) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        api.load(model_dir, dtype="fp32")  # the API: no warning for fp32 either


def test_the_cpu_probe_sees_a_cpu_without_native_half_kernels(tmp_path, small_clip, model_dir):
    # oneDNN limited to AVX2, as on CPUs without AVX512-FP16/BF16 or AMX: the slow fallback
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", OMP_NUM_THREADS="1")
    out = tmp_path / "x.latent.safetensors"
    p = subprocess.run(
        [sys.executable, "-m", "vaekit", "encode", small_clip, "-o", out, "--model", model_dir, "--dtype", "fp16"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0 and len(_warnings(p.stderr)) == 1 and "fp16 on this CPU" in p.stderr


# -- exports: staged, moved in after parity; backends run only what a manifest lists ---------
EXPORT_PROFILE = dataclasses.replace(
    load_profile("256p"), name="test", chunk_frames=8, height=Range(32, 64, 64), width=Range(32, 64, 64)
)


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    """A complete ONNX export (step graphs) of the small model."""
    out = tmp_path_factory.mktemp("exports") / "small-onnx"
    export(small_model(torch.float32, seed=1), "onnx", out, profile=EXPORT_PROFILE)
    return out


def _encode_with(artifacts, clip, out):
    return run("encode", clip, "-o", out, "--backend", "onnx", "--artifacts", artifacts, ok=False)


def test_an_interrupted_export_adds_nothing_to_the_folder(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM, the same exception) during the parity check

    monkeypatch.setattr(parity, "safetensors_checks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export(small_model(torch.float32, seed=1), "safetensors", tmp_path / "out", profile=EXPORT_PROFILE)
    assert list(tmp_path.iterdir()) == []  # no folder, no staging folder


def test_a_failed_parity_check_keeps_only_its_report(tmp_path, monkeypatch):
    real = parity.safetensors_checks

    def failing(*args, **kwargs):
        checks = real(*args, **kwargs)
        return [dataclasses.replace(checks[0], max_abs_error=1.0), *checks[1:]]

    monkeypatch.setattr(parity, "safetensors_checks", failing)
    with pytest.raises(ExportError, match="parity.safetensors.failed.json"):
        export(small_model(torch.float32, seed=1), "safetensors", tmp_path / "out", profile=EXPORT_PROFILE)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["parity.safetensors.failed.json"]


def test_graphs_without_a_manifest_are_refused(tmp_path, small_clip, small_onnx):
    partial = tmp_path / "partial"  # what an interrupted export used to leave: graphs, no parity
    partial.mkdir()
    for f in small_onnx.glob("*.step.onnx"):
        (partial / f.name).write_bytes(f.read_bytes())
    r = _encode_with(partial, small_clip, tmp_path / "x.latent.safetensors")
    assert r.exit_code == 2 and error_lines(r.stderr) == [r.stderr.strip()]
    assert "no manifest.json" in r.stderr and f"vaekit export --format onnx -o {partial}` again" in r.stderr
    assert not (tmp_path / "x.latent.safetensors").exists()
    # a complete export runs; a graph changed after its parity check does not
    assert _encode_with(small_onnx, small_clip, tmp_path / "ok.latent.safetensors").exit_code == 0
    for f in small_onnx.iterdir():
        (partial / f.name).write_bytes(f.read_bytes())
    graph = partial / "encoder.step.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    r = _encode_with(partial, small_clip, tmp_path / "y.latent.safetensors")
    assert r.exit_code == 2 and "changed since it was exported" in r.stderr
    manifest = json.loads((small_onnx / "manifest.json").read_text())
    assert manifest["exports"]["onnx"]["parity"] == "passed"
    assert set(manifest["exports"]["onnx"]["files"]) == {p.name for p in small_onnx.glob("*.onnx")}


def test_exports_of_parts_and_formats_into_one_folder_all_stay_runnable(tmp_path, small_clip):
    from vaekit.export import open_backend

    model, out = small_model(torch.float32, seed=1), tmp_path / "both"
    export(model, "onnx", out, part="encoder", profile=EXPORT_PROFILE)
    export(model, "onnx", out, part="decoder", profile=EXPORT_PROFILE)  # merged into the onnx entry
    r = export(model, "safetensors", out, profile=EXPORT_PROFILE)
    assert [p.name for p in r.written] == [
        "config.json",
        "model.safetensors",
        "parity.safetensors.json",
        "manifest.json",
    ]
    exports = json.loads((out / "manifest.json").read_text())["exports"]
    assert set(exports) == {"onnx", "safetensors"}
    assert set(exports["onnx"]["files"]) == {
        f"{p}.{k}.onnx" for p in ("encoder", "decoder") for k in ("step", "clip")
    }
    backend = open_backend("onnx", out)
    assert (
        set(backend._runners) == {"encoder", "decoder"} and open_backend("torch", out).model_name == "small"
    )


def test_staging_folders_of_a_killed_export_are_removed_by_the_next(tmp_path):
    stale = tmp_path / f".out.tmp-{_dead_pid()}-{_host_tag()}-0123abcd"
    stale.mkdir()
    (stale / "encoder.step.onnx").write_bytes(b"x")
    export(small_model(torch.float32, seed=1), "safetensors", tmp_path / "out", profile=EXPORT_PROFILE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -- trained models have their own identity --------------------------------------------------
def _fake_run(run_dir):
    """A run folder with one checkpoint whose model config is a preset's (name and statistics
    included), as every run that starts from a preset has."""
    from modelkit import SMALL

    from vaekit.model import CausalVideoVAE, VAEConfig
    from vaekit.train.checkpoint import save_checkpoint

    cfg = VAEConfig(
        **{**SMALL, "name": "tiny"}, latents_mean=[0.1] * 16, latents_std=[2.0] * 16, scaling_factor=0.5
    )
    torch.manual_seed(3)
    model = CausalVideoVAE(cfg)
    save_checkpoint(
        run_dir, {"step": 1, "model_config": cfg.to_dict(), "ema": {"weights": model.state_dict()}}, 1
    )
    return model


def test_a_model_exported_from_a_run_is_named_after_it_without_the_presets_statistics(tmp_path, small_clip):
    _fake_run(tmp_path / "runs" / "motion")
    out = tmp_path / "m"
    r = run("model-from-run", tmp_path / "runs" / "motion", out)
    assert "latent statistics not computed" in r.stdout and f"vaekit stats VIDEOS --model {out}" in r.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["name"] == "motion" and cfg["latent_stats_computed"] is False
    assert cfg["latents_mean"] is None and cfg["latents_std"] is None and cfg["scaling_factor"] == 1.0
    # the encode path says so once; the latent records the folder that made it
    r = run("encode", small_clip, "-o", tmp_path / "c.latent.safetensors", "--model", out)
    (line,) = _warnings(r.stderr)
    assert "no latent statistics yet" in line and f"vaekit stats VIDEOS --model {out.resolve()}" in line
    assert LatentReader(tmp_path / "c.latent.safetensors").info.model_dir == str(out.resolve())
    with pytest.warns(UserWarning, match="normalize\\(\\) is the identity"):
        load_model(out).normalize(torch.zeros(1, 16, 1, 2, 2))
    # vaekit stats is the fix: statistics computed, the mark gone, no warning
    run("stats", small_clip, "--model", out)
    cfg = json.loads((out / "config.json").read_text())
    assert len(cfg["latents_mean"]) == 16 and "latent_stats_computed" not in cfg
    r = run("encode", small_clip, "-o", tmp_path / "d.latent.safetensors", "--model", out)
    assert _warnings(r.stderr) == []


def test_run_model_names(tmp_path):
    from vaekit.train.model_export import rename_run_model, run_model_name

    _fake_run(tmp_path / "tiny")
    run("model-from-run", tmp_path / "tiny", tmp_path / "a")  # a run folder named like a preset
    assert json.loads((tmp_path / "a" / "config.json").read_text())["name"] == "tiny-run"
    run("model-from-run", tmp_path / "tiny", tmp_path / "b", "--name", "my-vae")
    assert json.loads((tmp_path / "b" / "config.json").read_text())["name"] == "my-vae"
    assert run_model_name("runs/x", None) == "x"
    with pytest.raises(InputError, match="plain model name"):
        run_model_name("runs/x", "a/b")
    # the folder a finished run writes (RUN_DIR/model, the preset's config as trained) is renamed too
    save_model(_fake_run(tmp_path / "r2"), tmp_path / "r2" / "model")
    rename_run_model(tmp_path / "r2" / "model", tmp_path / "r2")
    cfg = json.loads((tmp_path / "r2" / "model" / "config.json").read_text())
    assert cfg["name"] == "r2" and cfg["latents_std"] is None and cfg["latent_stats_computed"] is False


def test_the_mismatch_message_names_the_folder_that_made_the_latent(tmp_path, small_clip, model_dir):
    other = save_model(small_model(torch.float32, seed=7), tmp_path / "other")
    latent = tmp_path / "c.latent.safetensors"
    run("encode", small_clip, "-o", latent, "--model", other)
    r = run("decode", latent, "--model", model_dir, ok=False)
    assert r.exit_code == 4 and error_lines(r.stderr) == [r.stderr.strip()]
    assert f"folder {other.resolve()}" in r.stderr and f"decode it with --model {other.resolve()}" in r.stderr
    for f in other.iterdir():  # the folder moved away: say how to find it
        f.unlink()
    other.rmdir()
    r = run("decode", latent, "--model", model_dir, ok=False)
    assert "the model folder whose weights have the fingerprint" in r.stderr and "RUN_DIR/model" in r.stderr


# -- smaller promises ------------------------------------------------------------------------
def test_a_model_without_weights_is_refused_unless_allowed(tmp_path, small_clip, model_dir):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_bytes((model_dir / "config.json").read_bytes())  # no model.safetensors
    out = tmp_path / "c.latent.safetensors"
    r = run("encode", small_clip, "-o", out, "--model", bare, ok=False)
    assert r.exit_code == 2 and error_lines(r.stderr) == [r.stderr.strip()]
    assert "has no trained weights" in r.stderr and "--allow-random-weights" in r.stderr and not out.exists()
    r = run("encode", small_clip, "-o", out, "--model", bare, "--allow-random-weights")
    assert out.is_file() and "no trained weights" in _warnings(r.stderr)[0]  # still said, once


def test_the_last_training_step_is_logged(tmp_path):
    from trainkit import small_model_dir, small_recipe

    from vaekit.train import train

    recipe = small_recipe(small_model_dir(tmp_path / "m"), tmp_path / "run", max_steps=7, log_every=5)
    train(recipe)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "rec_loss" in r] == [0, 5, 6]


def test_the_training_start_line_counts_only_readable_files(tmp_path):
    from vaekit.train.data import describe, find_items

    write_sample_clip(tmp_path / "a.mp4", num_frames=5, width=32, height=32)
    write_sample_clip(tmp_path / "b.mp4", num_frames=5, width=32, height=32)
    (tmp_path / "broken.mp4").write_text("not a video")
    assert describe(find_items([str(tmp_path)])) == "2 videos (+ 1 unreadable file, skipped: broken.mp4)"


def test_the_training_progress_bar_shows_steps_and_eta_on_a_terminal(monkeypatch):
    import io

    from vaekit.train.progress import StepBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    bar = StepBar(3, 10)
    bar.update()
    with bar.printing():
        pass
    bar.close()
    shown = term.getvalue()
    assert "train" in shown and "4/10" in shown and "<" in shown  # tqdm's elapsed<remaining
    plain = io.StringIO()  # not a terminal: no bar at all
    monkeypatch.setattr(sys, "stderr", plain)
    StepBar(0, 10).update()
    assert plain.getvalue() == ""


def test_bad_inputs_are_refused_before_torch_is_imported(tmp_path):
    code = (
        "import sys\nfrom vaekit.cli import main\nassert 'torch' not in sys.modules\n"
        "try:\n    main(['encode', sys.argv[1]])\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "nope.mp4")], capture_output=True, text=True
    )
    assert p.stdout.split() == ["2", "False"], p.stderr
    assert "no such file" in p.stderr


def test_info_on_a_latent_file_does_not_import_torch(latent):
    code = (
        "import sys\nfrom vaekit.cli import main\n"
        "try:\n    main(['info', sys.argv[1], '--json'])\nexcept SystemExit as e:\n    assert not e.code\n"
        "print('torch' in sys.modules)\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(latent)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    *shown, imported = p.stdout.splitlines()
    assert imported == "False" and json.loads("\n".join(shown))["data_blake2b"].endswith("(verified)")


# -- formats: audio kept, changes said, containers and codecs checked up front ---------------
def _write_clip(path, pix_fmt="yuv420p", step_ms=None, frames=9):
    """A 64x64 mp4 in ``pix_fmt``; with ``step_ms`` (a list) frames that far apart (VFR)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width = s.height = 64
        s.pix_fmt = pix_fmt
        if step_ms:
            s.time_base = Fraction(1, 1000)
        t = 0
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 20 * i, np.uint8), format="rgb24")
            if step_ms:
                f.pts, f.time_base = t, Fraction(1, 1000)
                t += step_ms[i % len(step_ms)]
            c.mux(s.encode(f))
        c.mux(s.encode())
    return path


def test_roundtrip_keeps_the_audio_by_default(tmp_path, audio_clip, model_dir):
    from vaekit.io.video import probe

    run("roundtrip", audio_clip, "-o", tmp_path / "a.mp4", "--model", model_dir)
    assert probe(tmp_path / "a.mp4").has_audio
    run("roundtrip", audio_clip, "-o", tmp_path / "b.mp4", "--model", model_dir, "--no-audio")
    assert not probe(tmp_path / "b.mp4").has_audio


def test_roundtrip_says_what_the_output_does_not_keep(tmp_path, model_dir):
    vfr = _write_clip(tmp_path / "vfr.mp4", step_ms=[33, 67])
    (line,) = _warnings(run("roundtrip", vfr, "-o", tmp_path / "v.mp4", "--model", model_dir).stderr)
    assert "vfr.mp4 has a variable frame rate" in line and "the output is constant" in line
    full = _write_clip(tmp_path / "full.mp4", pix_fmt="yuv444p")
    (line,) = _warnings(run("roundtrip", full, "-o", tmp_path / "f.mp4", "--model", model_dir).stderr)
    assert "full.mp4 is 4:4:4 chroma (yuv444p); the output is 8-bit 4:2:0 (yuv420p)" in line
    plain = _write_clip(tmp_path / "plain.mp4")
    assert _warnings(run("roundtrip", plain, "-o", tmp_path / "p.mp4", "--model", model_dir).stderr) == []


def test_roundtrip_tells_a_variable_rate_without_reading_its_source_again(tmp_path, model_dir, monkeypatch):
    import av

    from vaekit.io.formats import FormatChangeWarning
    from vaekit.runtime import TorchBackend
    from vaekit.runtime.jobs import roundtrip_file

    vfr = _write_clip(tmp_path / "vfr.mp4", step_ms=[33, 67])
    opened, real_open = [], av.open
    monkeypatch.setattr(av, "open", lambda f, *a, **k: (opened.append(os.path.basename(str(f))), real_open(f, *a, **k))[1])
    with pytest.warns(FormatChangeWarning, match="vfr.mp4 has a variable frame rate"):
        roundtrip_file(TorchBackend(load_model(model_dir)), vfr, tmp_path / "v.mp4", keep_audio=False)
    assert opened.count("vfr.mp4") == 1


def test_containers_get_a_codec_they_take_or_are_refused_up_front(tmp_path, small_clip, model_dir, latent):
    from vaekit.io.video import probe

    run("roundtrip", small_clip, "-o", tmp_path / "out.webm", "--model", model_dir)
    assert probe(tmp_path / "out.webm").codec == "vp9"
    for args, fix in (
        (["-o", tmp_path / "x.webm", "--codec", "libx264"], "--codec libvpx-vp9"),
        (["-o", tmp_path / "x.gif"], "ffmpeg -i out.mp4 x.gif"),
        (["-o", tmp_path / "x.y4m"], "write .mp4, .mkv or .webm"),
    ):
        for cmd, src in (("roundtrip", small_clip), ("decode", latent)):
            r = run(cmd, src, *args, "--model", model_dir, ok=False)
            assert r.exit_code == 2 and error_lines(r.stderr) == [r.stderr.strip()] and fix in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.latent.safetensors", "out.webm"]
