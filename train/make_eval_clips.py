"""Write the held-out evaluation clips for the tiny model (real photographs, never trained on).

    python train/make_eval_clips.py [OUT_DIR]        # default: train/data/eval (not committed)

The photographs ``coffee`` and ``grass`` (scikit-image's sample data) are kept out of
``train/tiny.toml``'s training data; here a virtual camera films them (pan, zoom, roll) at
several sizes and frame counts, including sizes that are not multiples of 8 and frame counts
that are not 1 + 4k. ``vaekit eval --model tiny train/data/eval`` scores the model on them.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

from vaekit.io.synthetic import write_sample_clip

CLIPS = [
    # name, photo, frames, width, height, fps, seed
    ("coffee_256", "coffee", 33, 256, 256, Fraction(24), 101),
    ("grass_256", "grass", 33, 256, 256, Fraction(24), 102),
    ("coffee_320x240", "coffee", 30, 320, 240, Fraction(30000, 1001), 103),
    ("grass_250x150", "grass", 25, 250, 150, Fraction(25), 104),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, photo, frames, w, h, fps, seed in CLIPS:
        path = write_sample_clip(
            out / f"{name}.mp4", photo=photo, num_frames=frames, width=w, height=h, fps=fps, seed=seed
        )
        print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data" / "eval")
