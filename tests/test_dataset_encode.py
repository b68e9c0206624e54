"""``vaekit encode DATASET -o OUT --clip-frames N``: clips, torchrun sharding, resume, faults, reading back.

The dataset is a folder of small generated videos (different lengths, sizes and frame rates, one
too short for a clip, one that is not a video at all), encoded with the shipped ``tiny`` model
at 32x32, so every run takes well under a second of model time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vaekit
from vaekit.cli import main
from vaekit.data import LatentDataset, denormalize_latents
from vaekit.dataset_encode import find_videos, rank_of
from vaekit.io.latent_file import LatentReader
from vaekit.io.latent_index import INDEX, MANIFEST, PARTS
from vaekit.io.synthetic import write_sample_clip
from vaekit.runtime.clips import ClipSpec, count_resampled, iter_clips, plan_geometry, resample

REPO = Path(__file__).resolve().parents[1]
CLIP = ["--clip-frames", "9", "--clip-stride", "6", "--size", "32x32", "--fps", "24"]
# name -> (frames, width, height, fps, photo); wide/slow are rank 1 of 2, the others rank 0
VIDEOS = {
    "wide.mp4": (20, 80, 48, Fraction(24), "astronaut"),
    "sub/ntsc.mp4": (31, 64, 64, Fraction(30000, 1001), "coffee"),
    "slow.mkv": (5, 40, 40, Fraction(12), "chelsea"),
    "short.mp4": (3, 48, 32, Fraction(24), "astronaut"),
}


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def _spawn(args: list[str], torchrun: int = 0) -> subprocess.Popen:
    cmd = [sys.executable]
    if torchrun:
        cmd += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(torchrun)]
    cmd += ["-m", "vaekit", "encode", *args]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out; stderr: {err[-2000:]}")
    return proc.returncode, out, err


def _cli(*args: str):
    """In this process, on one thread like the subprocesses (OMP_NUM_THREADS=1): a conv's float sums
    depend on the thread count, so byte-equal latents need equal counts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        torch.set_num_threads(threads)


def _latents(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.latent.safetensors"))}


def _leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if ".tmp-" in p.name]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    (root / "sub").mkdir()
    for seed, (name, (frames, w, h, fps, photo)) in enumerate(VIDEOS.items()):
        write_sample_clip(root / name, photo=photo, num_frames=frames, width=w, height=h, fps=fps, seed=seed)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))  # a header, no video
    (root / ".hidden.mp4").write_text("hidden files are not part of the set")
    return root


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory, monkeypatch_module) -> Path:
    """The set written by one process (in this process, through the command line)."""
    out = tmp_path_factory.mktemp("ref") / "latents"
    r = _cli("encode", str(dataset), "-o", str(out), *CLIP, "--json")
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        mp.delenv(k, raising=False)
    yield mp
    mp.undo()


# -- clips ------------------------------------------------------------------------------------
@pytest.mark.parametrize("src, dst", [(24, 24), (30, 12), (Fraction(30000, 1001), 24), (10, 25), (12, 24)])
def test_resampling_takes_the_nearest_source_frame_and_counts_agree(src, dst):
    src, dst = Fraction(src), Fraction(dst)
    picked = [i for _, i, _ in resample(range(37), src, dst)]
    assert len(picked) == count_resampled(37, src, dst)
    for j, i in enumerate(picked):  # nearest in time, ties to the later frame
        assert abs(i / src - j / dst) <= 1 / (2 * src) + 1e-12
    assert picked == sorted(picked) and picked[0] == 0


def test_clip_windows_with_overlap_gaps_and_skipped_clips():
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(20)]
    clips = list(iter_clips(frames, ClipSpec(5, stride=3), Fraction(24)))
    assert [(c.start, c.end) for c in clips] == [(s, s + 5) for s in range(0, 16, 3)]
    assert [int(f[0, 0, 0]) for f in clips[2].frames] == [6, 7, 8, 9, 10]
    gaps = list(iter_clips(frames, ClipSpec(4, stride=7), Fraction(24), wanted=lambda k: k != 1))
    assert [(c.start, len(c.frames)) for c in gaps] == [(0, 4), (7, 0), (14, 4)]


def test_geometry_cover_crop_stretch_and_short_side():
    g = plan_geometry(150, 250, ClipSpec(5, size=(64, 32)), 8)
    assert g.output == (32, 64) and g.apply(np.zeros((150, 250, 3), np.uint8)).shape == (32, 64, 3)
    assert plan_geometry(150, 250, ClipSpec(5, size=(64, 32), crop="none"), 8).crop is None
    s = plan_geometry(150, 250, ClipSpec(5, short_side=64), 8)
    assert s.resize == (64, 107) and s.output == (64, 104)  # long side cropped to a multiple of 8
    assert plan_geometry(150, 250, ClipSpec(5, short_side=64, crop="none"), 8).output == (64, 107)


# -- one process -------------------------------------------------------------------------------
def _expected_clips(frames: int, fps: Fraction) -> int:
    n = count_resampled(frames, fps, Fraction(24))
    return 0 if n < 9 else (n - 9) // 6 + 1


def test_one_process_writes_clips_an_index_and_records_the_corrupt_video(dataset, reference):
    lines = [json.loads(x) for x in (reference / INDEX).read_text().splitlines()]
    clips = [r for r in lines if r["kind"] == "clip"]
    videos = {Path(r["source"]).name: r for r in lines if r["kind"] == "video"}
    expected = {name: _expected_clips(v[0], v[3]) for name, v in VIDEOS.items()}
    assert sum(expected.values()) == len(clips) > 4
    for name, count in expected.items():
        assert videos[Path(name).name]["status"] == "done" and videos[Path(name).name]["clips"] == count
    assert videos["short.mp4"]["clips"] == 0
    assert videos["corrupt.mp4"]["status"] == "failed" and "corrupt.mp4" in videos["corrupt.mp4"]["error"]
    assert ".hidden.mp4" not in videos and len(videos) == 5
    assert len({r["latent"] for r in clips}) == len(clips)
    for r in clips:
        assert r["status"] == "ok" and r["fps"] == "24/1" and r["frames"][1] - r["frames"][0] == 9
        assert r["clip_shape"] == [3, 9, 32, 32] and r["latent_shape"] == [16, 3, 4, 4]
        src = Path(r["source"])
        assert r["source_bytes"] == src.stat().st_size and r["source_mtime_ns"] == src.stat().st_mtime_ns
        info = LatentReader(reference / r["latent"]).info  # checksum verified
        assert (info.frame_count, info.fps, info.source_width, info.source_height) == (9, 24, 32, 32)
        assert info.latent_shape == tuple(r["latent_shape"])
    ntsc = [r for r in clips if r["source"].endswith("ntsc.mp4")]
    assert ntsc[1]["frames"] == [6, 15] and ntsc[1]["source_fps"] == "30000/1001"
    assert ntsc[1]["source_frames"] == [7, 18]  # 6/24 s is source frame 7.49 -> 7, 14/24 s 17.48 -> 17
    assert not (reference / PARTS).exists() and not _leftovers(reference)
    manifest = json.loads((reference / MANIFEST).read_text())
    assert manifest["clip"] == {"frames": 9, "stride": 6, "size": [32, 32], "short_side": None,
                                "fps": "24/1", "crop": "center"}  # fmt: skip


def test_info_summarises_the_set(reference):
    r = _cli("info", str(reference), "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    n = sum(_expected_clips(v[0], v[3]) for v in VIDEOS.values())
    assert (s["kind"], s["clips"], s["videos_failed"], s["videos_too_short"]) == ("latent set", n, 1, 1)
    assert s["latent_shapes"] == f"16x3x4x4 ({n})" and s["state"] == "complete"
    assert "corrupt.mp4" in s["failed: corrupt.mp4"]


def test_rerun_skips_everything_and_other_settings_are_refused(dataset, reference, tmp_path):
    before = (reference / INDEX).read_bytes(), _latents(reference)
    mtimes = {p: p.stat().st_mtime_ns for p in reference.rglob("*.latent.safetensors")}
    r = _cli("encode", str(dataset), "-o", str(reference), *CLIP, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.splitlines()[-1])
    assert summary["clips_written"] == 0 and summary["videos_failed"] == 1
    assert ((reference / INDEX).read_bytes(), _latents(reference)) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # nothing rewritten
    r = _cli("encode", str(dataset), "-o", str(reference), "--clip-frames", "13", "--size", "32x32")
    assert r.exit_code == 2 and "other settings" in r.output and "frames" in r.output
    r = _cli("encode", str(dataset), "-o", str(tmp_path / "x"), "--size", "32x32")
    assert r.exit_code == 2 and "--clip-frames" in r.output  # clip options need dataset mode


def test_latent_dataset_returns_normalised_latents_and_metadata(reference):
    ds = LatentDataset(reference)
    n = sum(_expected_clips(v[0], v[3]) for v in VIDEOS.values())
    assert len(ds) == n
    item = ds[0]
    raw = LatentReader(reference / item["latent_path"]).read("mean")
    model = vaekit.load("tiny")
    torch.testing.assert_close(item["latents"], model.normalize(raw[None])[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(denormalize_latents(item["latents"], ds.info(0)), raw, rtol=1e-5, atol=1e-5)
    assert item["latents"].shape == (16, 3, 4, 4) and item["fps"] == 24.0 and item["frames"] == (0, 9)
    assert LatentDataset(reference, normalize=False)[0]["latents"].equal(raw)
    # DistributedSampler splits it over two ranks without overlap; the default collate batches it
    from torch.utils.data import DataLoader, DistributedSampler

    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3, drop_last=True)
        for batch in DataLoader(ds, batch_size=2, sampler=sampler):
            assert batch["latents"].shape[1:] == (16, 3, 4, 4)
            seen += batch["index"].tolist()
    assert len(seen) == len(set(seen)) == n // 2 * 2


def test_a_truncated_video_keeps_the_clips_before_its_damage(truncated_mp4, tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "cut.mp4").write_bytes(truncated_mp4.read_bytes())  # 5 decodable frames
    r = _cli("encode", str(tmp_path / "videos"), "-o", str(tmp_path / "out"), "--clip-frames", "5",
             "--size", "32x32", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "skipped " in r.output and "truncated or corrupt after 5 frames" in r.output
    clips, video = [json.loads(x) for x in (tmp_path / "out" / INDEX).read_text().splitlines()]
    assert clips["frames"] == [0, 5] and LatentReader(tmp_path / "out" / clips["latent"])
    assert video["status"] == "failed" and video["clips"] == 1


def test_a_changed_source_is_encoded_again_and_only_it(tmp_path):
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    for i, name in enumerate(("one.mp4", "two.mp4")):
        write_sample_clip(videos / name, num_frames=9, width=32, height=32, seed=i)
    args = ["encode", str(videos), "-o", str(out), "--clip-frames", "9", "--json"]
    assert _cli(*args).exit_code == 0
    before = _latents(out)
    stamp = (out / "one.mp4.000000-000009.latent.safetensors").stat().st_mtime_ns
    write_sample_clip(videos / "two.mp4", photo="coffee", num_frames=9, width=32, height=32, seed=5)
    r = _cli(*args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["clips_written"] == 1
    after = _latents(out)
    assert after["one.mp4.000000-000009.latent.safetensors"] == before["one.mp4.000000-000009.latent.safetensors"]
    assert after["two.mp4.000000-000009.latent.safetensors"] != before["two.mp4.000000-000009.latent.safetensors"]
    assert (out / "one.mp4.000000-000009.latent.safetensors").stat().st_mtime_ns == stamp
    lines = (out / INDEX).read_text().splitlines()
    assert len(lines) == 4 and str((videos / "two.mp4").stat().st_size) in lines[2]


# -- several processes, interruptions ----------------------------------------------------------
def test_torchrun_two_processes_write_exactly_what_one_process_writes(dataset, reference, tmp_path):
    ranks = {rank_of(it.rel, 2) for it in find_videos([dataset], tmp_path)}
    assert ranks == {0, 1}  # both ranks have work
    out = tmp_path / "ddp"
    rc, stdout, err = _finish(_spawn([str(dataset), "-o", str(out), *CLIP, "--json"], torchrun=2))
    assert rc == 0, err[-3000:]
    summary = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
    assert len(summary) == 1 and summary[0]["ranks"] == 2  # rank 0 alone reports
    assert (out / INDEX).read_bytes() == (reference / INDEX).read_bytes()
    assert _latents(out) == _latents(reference)
    assert err.count("skipped ") == 1 and "corrupt.mp4" in err


def _wait_for_clips(out: Path, proc: subprocess.Popen, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = list((out / PARTS).glob("rank-*.jsonl")) if (out / PARTS).is_dir() else []
        if sum(p.read_text().count('"kind": "clip"') for p in parts) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {count} clips: {proc.stderr.read()[-2000:]}")
        time.sleep(0.005)
    pytest.fail("no progress")


@pytest.fixture(scope="module")
def long_dataset(tmp_path_factory) -> Path:
    """Enough clips (2 x 11) that a run can be stopped in the middle."""
    root = tmp_path_factory.mktemp("long")
    for i, name in enumerate(("d.mp4", "f.mp4")):  # rank 0 and rank 1 of 2
        write_sample_clip(root / name, photo="coffee", num_frames=49, width=48, height=64, seed=10 + i)
    return root


LONG = ["--clip-frames", "9", "--clip-stride", "4", "--size", "32x32"]


@pytest.fixture(scope="module")
def long_reference(long_dataset, tmp_path_factory, monkeypatch_module) -> Path:
    out = tmp_path_factory.mktemp("longref") / "latents"
    r = _cli("encode", str(long_dataset), "-o", str(out), *LONG)
    assert r.exit_code == 0, r.output
    return out


def _assert_consistent_after_stop(out: Path) -> int:
    """Only whole latent files, each with its index line; no temporaries; returns the clips kept."""
    assert not (out / INDEX).exists()  # the run did not finish
    lines = [json.loads(x) for p in (out / PARTS).glob("rank-*.jsonl") for x in p.read_text().splitlines()]
    clips = [r["latent"] for r in lines if r["kind"] == "clip"]
    assert len(clips) == len(set(clips)) > 0
    for name in clips:
        LatentReader(out / name)  # complete and verified
    on_disk = set(_latents(out))
    assert set(clips) <= on_disk and len(on_disk - set(clips)) <= 1  # at most the clip in hand
    return len(clips)


def test_sigterm_finishes_the_clip_in_hand_and_a_rerun_completes_the_same_set(long_dataset, long_reference, tmp_path):
    out = tmp_path / "latents"
    proc = _spawn([str(long_dataset), "-o", str(out), *LONG])
    _wait_for_clips(out, proc, 3)
    proc.send_signal(signal.SIGTERM)
    rc, _, err = _finish(proc)
    assert rc == 143 and "terminated by SIGTERM" in err, err[-2000:]
    assert not _leftovers(out)
    kept = _assert_consistent_after_stop(out)
    summary = json.loads(_cli("info", str(out), "--json").output)
    assert summary["clips"] == kept and summary["state"].startswith("incomplete")
    assert len(_latents(out)) == kept  # the clip in hand was finished and recorded
    r = _cli("encode", str(long_dataset), "-o", str(out), *LONG, "--json")  # the restart, in-process
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["clips_resumed"] == kept and summary["clips_written"] == 22 - kept
    assert (out / INDEX).read_bytes() == (long_reference / INDEX).read_bytes()
    assert _latents(out) == _latents(long_reference) and not _leftovers(out)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _rank_pid(torchrun_pid: int, rank: int) -> int | None:
    """The worker of ``rank`` among the processes this test's torchrun started."""
    todo = [torchrun_pid]
    while todo:
        pid = todo.pop()
        for child in _children(pid):
            try:
                env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RANK={rank}".encode() in env:  # entries compared whole: not LOCAL_RANK=...
                return child
            todo.append(child)
    return None


@pytest.mark.slow  # two torchrun launches' worth of start-up: about 15 s
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the rank's process through /proc")
def test_a_killed_rank_leaves_the_others_work_intact_and_a_rerun_finishes(long_dataset, long_reference, tmp_path):
    out = tmp_path / "latents"
    proc = _spawn([str(long_dataset), "-o", str(out), *LONG], torchrun=2)
    _wait_for_clips(out, proc, 3)
    victim = _rank_pid(proc.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)  # rank 1 dies outright (no cleanup of its own)
    rc, _, err = _finish(proc)
    assert rc != 0
    _assert_consistent_after_stop(out)
    rc, stdout, err = _finish(_spawn([str(long_dataset), "-o", str(out), *LONG, "--json"]))  # one process now
    assert rc == 0, err[-2000:]
    assert (out / INDEX).read_bytes() == (long_reference / INDEX).read_bytes()
    assert _latents(out) == _latents(long_reference) and not _leftovers(out)
    assert not (out / PARTS).exists()


def test_a_line_cut_short_by_a_kill_is_ignored_and_trimmed_before_appending(long_dataset, long_reference, tmp_path):
    import shutil

    out = tmp_path / "latents"
    shutil.copytree(long_reference, out)
    lines = (out / INDEX).read_text().splitlines(keepends=True)
    (out / INDEX).write_text("".join(lines[:5]))  # as if the merge had never happened...
    (out / PARTS).mkdir()
    (out / PARTS / "rank-00000.jsonl").write_text(lines[5] + lines[6][:40])  # ...and a kill cut a line
    for name in [json.loads(x)["latent"] for x in lines[6:] if '"clip"' in x]:
        (out / name).unlink()
    r = _cli("encode", str(long_dataset), "-o", str(out), *LONG, "--json")
    assert r.exit_code == 0, r.output
    assert (out / INDEX).read_bytes() == (long_reference / INDEX).read_bytes()
    assert _latents(out) == _latents(long_reference)


# -- CUDA (skipped without it) -----------------------------------------------------------------
def _close_to(out: Path, reference: Path) -> None:
    assert (out / INDEX).read_bytes() == (reference / INDEX).read_bytes()
    assert set(_latents(out)) == set(_latents(reference))
    for name in _latents(reference):
        a, b = LatentReader(out / name).read("mean"), LatentReader(reference / name).read("mean")
        torch.testing.assert_close(a, b, rtol=0, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_matches_the_cpu_set(dataset, reference, tmp_path):
    r = _cli("encode", str(dataset), "-o", str(tmp_path / "cuda"), *CLIP, "--device", "cuda")
    assert r.exit_code == 0, r.output
    _close_to(tmp_path / "cuda", reference)


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_torchrun_on_two_gpus_matches_the_cpu_set(dataset, reference, tmp_path):
    rc, _, err = _finish(_spawn([str(dataset), "-o", str(tmp_path / "ddp"), *CLIP], torchrun=2))
    assert rc == 0, err[-3000:]  # no --device: each rank on cuda:LOCAL_RANK, NCCL + a gloo group
    _close_to(tmp_path / "ddp", reference)
