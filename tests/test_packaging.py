"""A wheel of vaekit carries the model folders, so `pip install vaekit` has its default model."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("setuptools")
pytest.importorskip("wheel")


def test_wheel_carries_every_model_folder_and_export_profile(tmp_path):
    src = tmp_path / "src"
    # build from a copy of the tracked files only, as a release would (no runs/, no build/ leftovers)
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in files.split():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(src),
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("vaekit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for config in ROOT.glob("models/*/config.json"):
        for f in ("config.json", "model.safetensors", "README.md"):
            if (config.parent / f).is_file():
                assert f"vaekit/_presets/{config.parent.name}/{f}" in names
    assert "vaekit/_presets/tiny/config.json" in names
    for profile in ROOT.glob("export/*.toml"):
        assert f"vaekit/_profiles/{profile.name}" in names

    # installed from the wheel (no source tree beside it), the default model is found in _presets
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "from vaekit.model.folder import resolve_model_dir; print(resolve_model_dir('tiny')); "
        "from vaekit.export.profiles import load_profile; print(load_profile('256p').name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(site / "vaekit" / "_presets" / "tiny"), "256p"]
