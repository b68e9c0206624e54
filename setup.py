"""Packaging glue that pyproject.toml cannot express: the model folders in ``models/`` (config.json,
weights, card) travel inside the wheel as ``vaekit/_presets/``, where ``vaekit.load("tiny")`` finds
them, and the export shape profiles in ``export/*.toml`` as ``vaekit/_profiles/``, where
``vaekit export --profile 256p`` finds them, when vaekit is installed from a wheel rather than from
this source tree."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODEL_FILES = ("config.json", "model.safetensors", "README.md")


class BuildPyWithPresets(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads models/ from the source tree
            return
        for config in sorted(Path("models").glob("*/config.json")):
            target = Path(self.build_lib) / "vaekit" / "_presets" / config.parent.name
            target.mkdir(parents=True, exist_ok=True)
            for name in MODEL_FILES:
                if (config.parent / name).is_file():
                    shutil.copy2(config.parent / name, target / name)
        profiles = Path(self.build_lib) / "vaekit" / "_profiles"
        for profile in sorted(Path("export").glob("*.toml")):
            profiles.mkdir(parents=True, exist_ok=True)
            shutil.copy2(profile, profiles / profile.name)


setup(cmdclass={"build_py": BuildPyWithPresets})
