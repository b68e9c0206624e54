"""Batch runs: a bad file in a folder does not stop the others, --fail-fast, --skip-existing, and
two processes writing one output (a lock next to the output)."""

import os
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner
from modelkit import small_model

from vaekit.cli import main
from vaekit.errors import OutputError
from vaekit.io.atomic import _host_tag
from vaekit.io.latent_file import LatentReader
from vaekit.io.synthetic import write_sample_clip
from vaekit.model import save_model
from vaekit.runtime.batch import lock_path, output_complete, output_lock


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(small_model(torch.float32, seed=1), tmp_path_factory.mktemp("models") / "small")


@pytest.fixture
def folder_with_a_bad_file(tmp_path):
    """a.mp4, b.mp4 (text, not a video), c.mp4: the bad one sorts in the middle."""
    src = tmp_path / "in"
    src.mkdir()
    write_sample_clip(src / "a.mp4", num_frames=5, width=32, height=32)
    (src / "b.mp4").write_text("not a video\n")
    write_sample_clip(src / "c.mp4", num_frames=5, width=32, height=32, seed=1)
    return src


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_bad_file_in_the_middle_does_not_stop_the_others(tmp_path, folder_with_a_bad_file, model_dir):
    out = tmp_path / "out"
    r = run("encode", folder_with_a_bad_file, "-o", out, "--model", model_dir)
    assert r.exit_code == 2, r.stderr  # the exit code of the failure (bad input)
    assert sorted(p.name for p in out.iterdir()) == ["a.latent.safetensors", "c.latent.safetensors"]
    first, summary = errors(r.stderr)
    assert "b.mp4" in first and "a.mp4" not in first
    assert "1 of 3 inputs failed" in summary and "2 written" in summary
    assert len(r.stdout.splitlines()) == 2  # one line per output written
    # the same for decode: one bad latent among good ones
    (out / "x.latent.safetensors").write_bytes(b"garbage")
    r = run("decode", out, "--model", model_dir)
    assert r.exit_code == 2 and (out / "a.decoded.mp4").is_file() and (out / "c.decoded.mp4").is_file()
    assert "x.latent.safetensors" in errors(r.stderr)[0] and "1 of 3 inputs failed" in errors(r.stderr)[1]


def test_fail_fast_stops_at_the_first_failure(tmp_path, folder_with_a_bad_file, model_dir):
    out = tmp_path / "out"
    r = run("roundtrip", folder_with_a_bad_file, "-o", out, "--model", model_dir, "--fail-fast")
    assert r.exit_code == 2
    assert sorted(p.name for p in out.iterdir()) == ["a.roundtrip.mp4"]
    assert "--fail-fast" in errors(r.stderr)[-1] and "1 not processed" in errors(r.stderr)[-1]


def test_one_input_fails_as_before(tmp_path, folder_with_a_bad_file, model_dir):
    r = run(
        "encode",
        folder_with_a_bad_file / "b.mp4",
        "-o",
        tmp_path / "b.latent.safetensors",
        "--model",
        model_dir,
    )
    assert r.exit_code == 2 and errors(r.stderr) == [r.stderr.strip()] and "inputs failed" not in r.stderr


def test_skip_existing_skips_complete_outputs_only(tmp_path, model_dir):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        write_sample_clip(src / f"{name}.mp4", num_frames=5, width=32, height=32)
    out = tmp_path / "out"
    run("encode", src, "-o", out, "--model", model_dir)
    done = out / "a.latent.safetensors"
    before = done.stat().st_mtime_ns
    broken = out / "b.latent.safetensors"
    broken.write_bytes(broken.read_bytes()[:-100])  # truncated by something else
    assert output_complete(done) and not output_complete(broken)
    r = run("encode", src, "-o", out, "--model", model_dir, "--skip-existing")
    assert r.exit_code == 0, r.stderr
    assert f"{done}  skipped: output exists" in r.stdout.splitlines()
    assert done.stat().st_mtime_ns == before
    LatentReader(broken)  # written again, complete


def _encode_subprocess(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vaekit", "encode", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )


def test_a_second_writer_of_one_output_is_refused(tmp_path, model_dir):
    src = write_sample_clip(tmp_path / "long.mp4", num_frames=240, width=64, height=64)
    out = tmp_path / "long.latent.safetensors"
    first = _encode_subprocess(src, "-o", out, "--model", model_dir, "--chunk-frames", "4")
    lock = lock_path(out)
    deadline = time.time() + 60
    while not lock.exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.02)
    assert lock.exists(), first.communicate()[1]
    assert lock.read_text().split() == [str(first.pid), _host_tag()]
    second = run("encode", src, "-o", out, "--model", model_dir)
    assert second.exit_code == 3 and errors(second.stderr) == [second.stderr.strip()]
    assert f"being written by process {first.pid}" in second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    LatentReader(out)  # the first writer's output, complete
    assert not lock.exists()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, model_dir):
    src = write_sample_clip(tmp_path / "a.mp4", num_frames=5, width=32, height=32)
    out = tmp_path / "a.latent.safetensors"
    lock_path(out).write_text(f"{_dead_pid()} {_host_tag()}\n")
    r = run("encode", src, "-o", out, "--model", model_dir)
    assert r.exit_code == 0, r.stderr
    assert out.is_file() and not lock_path(out).exists()


def test_output_lock_refuses_a_live_holder_and_releases(tmp_path):
    out = tmp_path / "x.mp4"
    lock_path(out).write_text(f"{os.getppid()} {_host_tag()}\n")  # a live process (our parent)
    with pytest.raises(OutputError, match=f"process {os.getppid()}"):
        with output_lock(out):
            pass
    lock_path(out).unlink()
    with output_lock(out) as lock:
        assert lock.read_text().split() == [str(os.getpid()), _host_tag()]
    assert list(tmp_path.iterdir()) == []
