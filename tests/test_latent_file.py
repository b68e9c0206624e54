"""Latent files: streamed writing, safetensors compatibility, metadata, tamper detection."""

import json
import struct
from fractions import Fraction

import pytest
import torch
from latentkit import latent_info
from safetensors.torch import load_file, save_file

from vaekit.errors import InputError
from vaekit.io.latent_file import (
    LatentReader,
    LatentWriter,
    default_latent_path,
    default_video_path,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_streamed_chunks_make_a_standard_safetensors_file(tmp_path, dtype):
    mean = torch.randn(4, 3, 3, 4)
    logvar = torch.randn(4, 3, 3, 4)
    path = tmp_path / "a.latent.safetensors"
    with LatentWriter(path, dtype) as w:
        for s in (slice(0, 2), slice(2, 3)):  # two chunks along time
            w.write(mean[:, s], logvar[:, s])
        w.info = latent_info()
    plain = load_file(str(path))  # the reference safetensors reader accepts it
    assert torch.equal(plain["mean"], mean.to(dtype)) and torch.equal(plain["logvar"], logvar.to(dtype))
    r = LatentReader(path)
    assert r.info.fps == Fraction(30000, 1001) and r.info.frame_count == 9 and r.info.has_logvar
    assert r.info.latents_mean == [0.0, 1.0, 2.0, 3.0] and r.info.dtype == str(dtype).removeprefix("torch.")
    assert torch.equal(torch.cat(list(r.iter_chunks(2)), 1), mean.to(dtype))
    assert list(tmp_path.iterdir()) == [path]  # no scratch files left


def test_exception_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), LatentWriter(tmp_path / "x.latent.safetensors") as w:
        w.write(torch.zeros(4, 1, 3, 4))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_inconsistent_shape(tmp_path):
    with (
        pytest.raises(ValueError, match="metadata says"),
        LatentWriter(tmp_path / "x.latent.safetensors") as w,
    ):
        w.write(torch.zeros(4, 2, 3, 4))  # 2 latent frames but 9 source frames need 3
        w.info = latent_info()
    assert list(tmp_path.iterdir()) == []


def test_reader_rejects_foreign_and_tampered_files(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"mean": torch.zeros(4, 3, 3, 4)}, str(other))
    with pytest.raises(InputError, match="not a vaekit latent file"):
        LatentReader(other)
    (tmp_path / "junk.latent.safetensors").write_bytes(b"\x00" * 50)
    with pytest.raises(InputError, match="not a readable safetensors"):
        LatentReader(tmp_path / "junk.latent.safetensors")
    with pytest.raises(InputError, match="no such latent file"):
        LatentReader(tmp_path / "missing.latent.safetensors")
    # a file whose metadata claims more frames than its tensor holds
    good = tmp_path / "good.latent.safetensors"
    with LatentWriter(good) as w:
        w.write(torch.zeros(4, 3, 3, 4))
        w.info = latent_info()
    meta = latent_info(frames=13).to_metadata()
    save_file({"mean": torch.zeros(4, 3, 3, 4)}, str(tmp_path / "t.latent.safetensors"), metadata=meta)
    with pytest.raises(InputError, match="does not match its metadata"):
        LatentReader(tmp_path / "t.latent.safetensors")


def test_header_is_padded_json_with_all_metadata(tmp_path):
    path = tmp_path / "h.latent.safetensors"
    with LatentWriter(path) as w:
        w.write(torch.zeros(4, 3, 3, 4))
        w.info = latent_info()
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    meta = json.loads(raw[8 : 8 + n])["__metadata__"]
    for key in (
        "format_version",
        "model_name",
        "model_sha256",
        "source_width",
        "source_height",
        "padded_width",
        "padded_height",
        "frame_count",
        "fps",
        "dtype",
        "scaling_factor",
    ):
        assert key in meta
    assert meta["fps"] == "30000/1001"


def test_default_names():
    assert default_latent_path("/a/clip.mp4").name == "clip.latent.safetensors"
    assert default_video_path("/a/clip.latent.safetensors").name == "clip.decoded.mp4"
