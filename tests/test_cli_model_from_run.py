"""`vaekit model-from-run RUN_DIR OUT_DIR` (a run's EMA weights -> a model folder) and its old
spelling `vaekit train --export-model RUN_DIR OUT_DIR`, which keeps working with one deprecation
line on stderr."""

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from test_faults import _fake_run

from vaekit.cli import main


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture
def fake_run(tmp_path):
    _fake_run(tmp_path / "runs" / "motion")
    return tmp_path / "runs" / "motion"


def test_both_spellings_write_the_same_model_folder(tmp_path, fake_run):
    new = run("model-from-run", fake_run, tmp_path / "new")
    old = run("train", "--export-model", fake_run, tmp_path / "old")
    # the same line on stdout, the folder named in it
    assert new.stdout.replace(str(tmp_path / "new"), "OUT") == old.stdout.replace(
        str(tmp_path / "old"), "OUT"
    )
    assert str(tmp_path / "new") in new.stdout
    assert "latent statistics not computed" in new.stdout
    assert f"vaekit stats VIDEOS --model {tmp_path / 'new'}" in new.stdout
    # the same folder
    cfg_new = json.loads((tmp_path / "new" / "config.json").read_text())
    cfg_old = json.loads((tmp_path / "old" / "config.json").read_text())
    assert cfg_new == cfg_old
    assert cfg_new["name"] == "motion"
    assert cfg_new["latent_stats_computed"] is False
    w_new = load_file(str(tmp_path / "new" / "model.safetensors"))
    w_old = load_file(str(tmp_path / "old" / "model.safetensors"))
    assert w_new.keys() == w_old.keys()
    for k in w_new:
        torch.testing.assert_close(w_new[k], w_old[k])


def test_the_old_spelling_prints_one_deprecation_line_naming_the_new_one(tmp_path, fake_run):
    old = run("train", "--export-model", fake_run, tmp_path / "a", "--name", "my-vae")
    (line,) = old.stderr.splitlines()
    assert line.startswith(
        "warning: `vaekit train --export-model` is deprecated; use `vaekit model-from-run "
    )
    assert f"vaekit model-from-run {fake_run} {tmp_path / 'a'} --name my-vae`" in line
    assert json.loads((tmp_path / "a" / "config.json").read_text())["name"] == "my-vae"
    new = run("model-from-run", fake_run, tmp_path / "b", "--name", "my-vae")
    assert new.stderr == ""
    assert json.loads((tmp_path / "b" / "config.json").read_text())["name"] == "my-vae"


def test_a_run_without_checkpoints_is_refused_the_same_way_by_both(tmp_path, fake_run):
    (tmp_path / "empty").mkdir()
    new = run("model-from-run", tmp_path / "empty", tmp_path / "m", ok=False)
    old = run("train", "--export-model", tmp_path / "empty", tmp_path / "m", ok=False)
    assert new.exit_code == old.exit_code == 2
    assert new.stderr.startswith("error: ")
    assert new.stderr.count("\n") == 1
    assert "has no checkpoints" in new.stderr
    assert old.stderr.splitlines()[1:] == new.stderr.splitlines()  # the deprecation line, then the same error
    assert not (tmp_path / "m").exists()
    bad = run("model-from-run", fake_run, tmp_path / "m", "--name", "a/b", ok=False)
    assert bad.exit_code == 2
    assert "plain model name" in bad.stderr


def test_help_names_the_command_and_tells_it_apart_from_export():
    top = run("--help").stdout
    assert "model-from-run" in top
    for command in ("decode", "demo", "doctor", "encode", "eval", "export", "info", "roundtrip", "stats",
                    "train", "weights"):  # fmt: skip
        assert f"  {command} " in top
    page = run("model-from-run", "--help").stdout
    assert "model-from-run [OPTIONS] RUN_DIR OUT_DIR" in page
    assert "vaekit model-from-run runs/tiny models/my-tiny" in page
    assert "--name" in page
    assert "ONNX/TensorRT" in page
    train = run("train", "--help").stdout
    assert "--export-model" in train
    assert "deprecated" in train
    assert "vaekit model-from-run runs/tiny models/my-tiny" in train
