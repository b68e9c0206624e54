"""The CLI's plumbing without running a model: the naming/collision policy of
:mod:`vaekit.paths` as plain functions, the typed objects the option groups build
(:class:`StreamArgs`, :class:`BackendArgs`), and the package's entry points."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vaekit.cli import main
from vaekit.cli.common import BackendArgs, StreamArgs, stream_options, typed_options
from vaekit.errors import InputError, OutputError
from vaekit.paths import expand_inputs, output_codecs, output_paths


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def _latent(p: Path) -> Path:
    return p.with_name(p.stem + ".latent.safetensors")


# -- vaekit.paths ----------------------------------------------------------------------------
def test_folders_expand_to_videos_and_images_without_vaekits_own_outputs(tmp_path):
    for name in ("b.mp4", "a.png", "a.decoded.mp4", "a.roundtrip.png", ".hidden.mp4", "notes.txt"):
        _touch(tmp_path / name)
    _touch(tmp_path / "a.latent.safetensors")
    assert [p.name for p in expand_inputs([str(tmp_path)], "video")] == ["a.png", "b.mp4"]
    assert [p.name for p in expand_inputs([str(tmp_path)], "latent")] == ["a.latent.safetensors"]
    given = _touch(tmp_path / "x.decoded.mp4")  # a file named on the command line is taken as given
    assert expand_inputs([str(given)], "video") == [given]


def test_missing_and_empty_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        expand_inputs([str(tmp_path / "nope.mp4")], "video")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no video or image files"):
        expand_inputs([str(tmp_path / "empty")], "video")
    with pytest.raises(InputError, match="holds no latent files"):
        expand_inputs([str(tmp_path / "empty")], "latent")


def test_output_paths_beside_into_a_folder_or_one_file(tmp_path):
    a, b = _touch(tmp_path / "in" / "a.mp4"), _touch(tmp_path / "in" / "b.mp4")
    assert output_paths([a, b], None, _latent) == [_latent(a), _latent(b)]
    out = tmp_path / "out"
    assert output_paths([a, b], str(out), _latent) == [
        out / "a.latent.safetensors",
        out / "b.latent.safetensors",
    ]
    assert out.is_dir()  # made once everything was checked
    assert output_paths([a], str(tmp_path / "one.latent.safetensors"), _latent) == [
        tmp_path / "one.latent.safetensors"
    ]
    assert output_paths([a], str(tmp_path / "dir") + "/", _latent) == [
        tmp_path / "dir" / "a.latent.safetensors"
    ]


def test_output_paths_refuse_collisions_before_making_anything(tmp_path):
    a, a_png = _touch(tmp_path / "a.mp4"), _touch(tmp_path / "a.png")
    with pytest.raises(InputError, match="would overwrite the input"):
        output_paths([a], str(a), _latent)
    with pytest.raises(InputError, match="would both be written to"):
        output_paths([a, a_png], None, _latent)
    with pytest.raises(InputError, match="would overwrite the input"):
        output_paths([_touch(tmp_path / "x.latent.safetensors")], str(a), _latent, audio_from=str(a))
    with pytest.raises(InputError, match="--audio-from takes one input"):
        output_paths([a, a_png], str(tmp_path / "new"), _latent, audio_from=str(a))
    assert not (tmp_path / "new").exists()
    blocker = _touch(tmp_path / "file")
    with pytest.raises(OutputError, match="several outputs need a folder"):
        output_paths([a, a_png], str(blocker), lambda p: tmp_path / f"{p.name}.out")


def test_output_codecs_follow_the_container_unless_a_codec_was_given(tmp_path):
    webm, mp4, png = tmp_path / "x.webm", tmp_path / "x.mp4", tmp_path / "x.png"
    codecs = output_codecs([webm, mp4, png], "libx264", codec_given=False)
    assert codecs[webm] == "libvpx-vp9"
    assert codecs[mp4] == "libx264"
    assert codecs[png] == "libx264"  # not used for images
    with pytest.raises(InputError):
        output_codecs([webm], "libx264", codec_given=True)


# -- the typed objects -----------------------------------------------------------------------
def test_stream_args_are_checked_when_built_and_frozen():
    args = StreamArgs(8, "off", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        args.chunk_frames = 4
    with pytest.raises(click.BadParameter, match="multiple of 4"):
        StreamArgs(chunk_frames=6)
    with pytest.raises(click.BadParameter, match="multiple of 4"):
        StreamArgs(chunk_frames=0)
    opts = args.options()
    assert opts.chunk_frames == 8
    assert opts.tile.mode == "off"
    with pytest.raises(click.BadParameter):
        StreamArgs(tile="big").options()


def test_the_option_groups_hand_the_body_typed_objects():
    seen = {}

    @click.command()
    @stream_options
    @typed_options
    def probe(stream, engine, as_json, quiet):
        seen.update(stream=stream, engine=engine, as_json=as_json, quiet=quiet)

    r = CliRunner().invoke(probe, ["--chunk-frames", "8", "--tile", "512", "--dtype", "bf16", "-q", "--json"])
    assert r.exit_code == 0, r.output
    assert seen["stream"] == StreamArgs(chunk_frames=8, tile="512", quiet=True)
    assert seen["engine"] == BackendArgs(model="tiny", device="cpu", dtype="bf16", model_given=False)
    assert seen["as_json"] is True
    assert seen["quiet"] is True
    CliRunner().invoke(probe, ["--model", "m"])
    assert seen["engine"].model_given is True
    r = CliRunner().invoke(probe, ["--chunk-frames", "6"])
    assert r.exit_code == 2
    assert "multiple of 4" in r.output


def test_onnx_without_artifacts_is_refused():
    with pytest.raises(InputError, match="needs --artifacts DIR"):
        BackendArgs(kind="onnx").load()


# -- entry points ----------------------------------------------------------------------------
def test_the_package_is_the_vaekit_command_every_way_it_is_started():
    names = set(main.commands)
    assert names == {"decode", "demo", "doctor", "encode", "eval", "export", "info", "model-from-run",
                     "roundtrip", "stats", "train", "weights"}  # fmt: skip
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "vaekit"]
    assert ep.value == "vaekit.cli:main"
    assert ep.load() is main
    for argv in (
        [sys.executable, "-m", "vaekit", "--version"],
        [sys.executable, "-m", "vaekit.cli", "--version"],
    ):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("vaekit, version ")


def test_importing_the_cli_loads_no_torch():
    code = "import sys\nimport vaekit.cli\nprint(sorted(m for m in ('torch', 'numpy', 'av') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["[]"]
