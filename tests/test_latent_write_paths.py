"""The latent writer's two paths (one pass into the final layout; scratch file, then layout) write
the same bytes as the writer before the one-pass path, and a wrong announced count falls back."""

import hashlib

import pytest
import torch
from latentkit import latent_info

from vaekit.io.latent_file import LatentReader, LatentWriter

# (source frames, channels, latent frames per chunk, logvar, dtype) -> sha256 of the whole file,
# as the writer of commit 8ac981b (scratch file only, before the one-pass path) wrote it
PREVIOUS_WRITER = {
    (1, 4, 1, True, torch.float32): "a4ae0528551c508a4e86103e8a817666e93b14e8effa07a005495729de85bd70",
    (9, 4, 2, False, torch.float32): "1a039f5b10e2dc5a2372639277b8f32c2fecf188ae684301c723badb7010ead8",
    (14, 4, 3, True, torch.bfloat16): "11ad0960ab6e09d5894450eefeab4d5aa0b536b7a18a2c87ac2267d31f5d46f8",
    (33, 5, 4, True, torch.float16): "67dad481496c8e92d8884a96c22c9883e90bd8d950ded129a17f6fc387adccbd",
    (33, 5, 2, False, torch.bfloat16): "7fbc22e5aadca9e6a35601a9a764e8a36600d0e1ba72e60b3dedd8706557b629",
}


def _latents(channels: int, t: int, seed: int) -> torch.Tensor:
    x = torch.arange(channels * t * 3 * 4, dtype=torch.float64).reshape(channels, t, 3, 4)
    return torch.sin(x * 0.37 + seed) * 3  # fixed values, no random generator


def _write(path, case, announced=None) -> LatentWriter:
    """Write the latents of ``case`` in chunks; ``announced``: the latent frame count given up
    front (None: none, the scratch path)."""
    frames, channels, chunk, logvar, dtype = case
    t = 1 + -(-(frames - 1) // 4)
    mean, lv = _latents(channels, t, 0), _latents(channels, t, 1)
    with LatentWriter(path, dtype, latent_frames=announced) as w:
        for s in range(0, t, chunk):
            w.write(mean[:, s : s + chunk], lv[:, s : s + chunk] if logvar else None)
        w.info = latent_info(frames, channels)
    return w


def _latent_frames(case) -> int:
    return 1 + -(-(case[0] - 1) // 4)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", list(PREVIOUS_WRITER), ids=str)
def test_one_pass_writes_the_previous_writers_bytes(tmp_path, case):
    path = tmp_path / "a.latent.safetensors"
    w = _write(path, case, announced=_latent_frames(case))
    assert w.layout == "one-pass"
    assert w.fallback is None
    assert _sha256(path) == PREVIOUS_WRITER[case]
    assert list(tmp_path.iterdir()) == [path]  # no scratch or temporary left


@pytest.mark.parametrize("case", list(PREVIOUS_WRITER), ids=str)
def test_the_scratch_path_still_writes_the_previous_writers_bytes(tmp_path, case):
    path = tmp_path / "a.latent.safetensors"
    w = _write(path, case)
    assert w.layout == "scratch"
    assert _sha256(path) == PREVIOUS_WRITER[case]


@pytest.mark.parametrize("frames", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("chunk", [1, 3, 4])
@pytest.mark.parametrize("logvar", [False, True])
def test_one_pass_equals_scratch_for_any_chunking(tmp_path, frames, chunk, logvar):
    case = (4 * (frames - 1) + 1, 3, chunk, logvar, torch.float32)
    _write(tmp_path / "one.latent.safetensors", case, announced=frames)
    _write(tmp_path / "two.latent.safetensors", case)
    assert (tmp_path / "one.latent.safetensors").read_bytes() == (
        tmp_path / "two.latent.safetensors"
    ).read_bytes()
    r = LatentReader(tmp_path / "one.latent.safetensors")  # checksum and values verified
    assert r.info.has_logvar == logvar


@pytest.mark.parametrize("announced", [1, 2, 4, 8, 20], ids=lambda n: f"announced{n}")
@pytest.mark.parametrize("logvar", [False, True])
def test_a_wrong_announced_count_falls_back_to_the_same_bytes(tmp_path, announced, logvar):
    """A container that declares more frames than it holds (truncated) or fewer (VFR, a wrong
    index): the writer notices, goes through the scratch file, and the file is the same."""
    case = (17, 4, 2, logvar, torch.float32)  # 5 latent frames in chunks of 2
    path = tmp_path / "a.latent.safetensors"
    w = _write(path, case, announced=announced)
    assert w.layout == "scratch"
    assert ("announced" in w.fallback) and (str(announced) in w.fallback)
    _write(tmp_path / "ref.latent.safetensors", case)
    assert path.read_bytes() == (tmp_path / "ref.latent.safetensors").read_bytes()
    LatentReader(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.latent.safetensors", "ref.latent.safetensors"]


def test_too_many_frames_fall_back_at_the_write_too_few_at_the_close(tmp_path):
    mean = _latents(4, 5, 0)
    with LatentWriter(tmp_path / "many.latent.safetensors", latent_frames=3) as w:
        w.write(mean[:, :2])
        assert w.layout == "one-pass"
        w.write(mean[:, 2:4])  # frame 4 > 3 announced
        assert w.layout == "scratch"
        assert w.fallback == "more than the 3 latent frames announced"
        w.write(mean[:, 4:])
        w.info = latent_info(17, 4)
    with LatentWriter(tmp_path / "few.latent.safetensors", latent_frames=9) as w:
        w.write(mean)
        w.info = latent_info(17, 4)
        assert w.layout == "one-pass"
    assert w.layout == "scratch"
    assert w.fallback == "5 latent frames written, 9 announced"
    for name in ("many", "few"):
        assert torch.equal(LatentReader(tmp_path / f"{name}.latent.safetensors").read(), mean.float())


def test_one_pass_errors_leave_nothing(tmp_path):
    with pytest.raises(RuntimeError), LatentWriter(tmp_path / "x.latent.safetensors", latent_frames=3) as w:
        w.write(torch.zeros(4, 1, 3, 4))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with (
        pytest.raises(ValueError, match="metadata says"),
        LatentWriter(tmp_path / "x.latent.safetensors", latent_frames=2) as w,
    ):
        w.write(torch.zeros(4, 2, 3, 4))  # 2 latent frames, as announced, but 9 source frames need 3
        w.info = latent_info(9, 4)
    assert list(tmp_path.iterdir()) == []
    with (
        pytest.raises(KeyboardInterrupt),
        LatentWriter(tmp_path / "x.latent.safetensors", latent_frames=9) as w,
    ):
        w.write(torch.zeros(4, 3, 3, 4))
        w.write(torch.zeros(4, 3, 3, 4))  # past the announced count: a scratch file now
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_chunks_must_agree_in_shape_and_logvar(tmp_path):
    for announced in (None, 3):
        with (
            pytest.raises(ValueError, match="after chunks of"),
            LatentWriter(tmp_path / "x.latent.safetensors", latent_frames=announced) as w,
        ):
            w.write(torch.zeros(4, 1, 3, 4))
            w.write(torch.zeros(4, 1, 3, 4), torch.zeros(4, 1, 3, 4))
        assert list(tmp_path.iterdir()) == []
