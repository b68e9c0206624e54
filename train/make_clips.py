"""Write the clips the tiny model is measured and normalised on (real photographs, no download).

    python train/make_clips.py [OUT_DIR]        # default: train/data (not committed)

``OUT_DIR/eval``: the held-out evaluation clips. The photographs ``coffee`` and ``grass``
(scikit-image's sample data) and ``grace_hopper`` (matplotlib's) are kept out of
``train/tiny.toml``'s training data; a virtual camera
films them (pan, zoom, roll) at several sizes and frame counts, including sizes that are not
multiples of 8 and frame counts that are not 1 + 4k. ``vaekit eval OUT_DIR/eval`` scores a model.

``OUT_DIR/stats``: one 256x256 clip of each training photograph, for ``vaekit stats`` (latent
normalisation is a property of the training distribution, so it is measured there, not on the
held-out clips).
"""

from __future__ import annotations

import sys
import tomllib
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
    prefix = "builtin:photos:"
    return [name for entry in data if entry.startswith(prefix) for name in entry[len(prefix) :].split(",")]


def stats_clips() -> list[tuple]:
    return [
        (f"{photo}_256", photo, 17, 256, 256, Fraction(24), 200 + i)
        for i, photo in enumerate(training_photos())
    ]


def main(out: Path) -> None:
    for folder, clips in (("eval", EVAL_CLIPS), ("stats", stats_clips())):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, photo, frames, w, h, fps, seed in clips:
            path = out / folder / f"{name}.mp4"
            print(
                write_sample_clip(path, photo=photo, num_frames=frames, width=w, height=h, fps=fps, seed=seed)
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data")
