"""Shape profiles: the frame sizes, chunk length and batch an export is built for (``export/*.toml``).

A profile gives ``min``/``opt``/``max`` for batch, height and width (pixels), and the streaming
chunk length in frames. ONNX graphs are fully dynamic and only record the profile; TensorRT
engines are built for exactly its ranges (one optimization profile per engine), tuned for ``opt``.
The streaming engine feeds step graphs chunks of ``chunk_frames`` frames and one shorter last
chunk, so a step graph's frame range is ``temporal_compression .. chunk_frames``.

File format::

    name = "256p"
    description = "..."
    chunk_frames = 16
    batch  = { min = 1,  opt = 1,   max = 4 }
    height = { min = 64, opt = 256, max = 512 }
    width  = { min = 64, opt = 448, max = 512 }
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_PROFILE = "256p"


@dataclass(frozen=True)
class Range:
    min: int
    opt: int
    max: int

    def contains(self, value: int) -> bool:
        return self.min <= value <= self.max

    def __str__(self) -> str:
        return f"{self.min}..{self.max}"


@dataclass(frozen=True)
class ShapeProfile:
    name: str
    batch: Range
    height: Range
    width: Range
    chunk_frames: int
    description: str = ""

    def check_model(self, spatial_compression: int, temporal_compression: int, where: str = "") -> None:
        """Refuse a profile the model cannot run: sizes off its multiples, chunks off its stride."""
        where = where or f"profile {self.name}"
        for axis, r in (("batch", self.batch), ("height", self.height), ("width", self.width)):
            if not 1 <= r.min <= r.opt <= r.max:
                raise InputError(
                    f"{where}: {axis} needs 1 <= min <= opt <= max, got {r.min}, {r.opt}, {r.max}"
                )
        for axis, r in (("height", self.height), ("width", self.width)):
            if any(v % spatial_compression for v in (r.min, r.opt, r.max)):
                raise InputError(
                    f"{where}: {axis} {r.min}/{r.opt}/{r.max} must be multiples of {spatial_compression}"
                )
        if self.chunk_frames <= 0 or self.chunk_frames % temporal_compression:
            raise InputError(
                f"{where}: chunk_frames {self.chunk_frames} must be a positive multiple of {temporal_compression}"
            )

    def parity_size(self, spatial_compression: int, target: tuple[int, int] = (128, 192)) -> tuple[int, int]:
        """A small frame size inside the profile, for parity checks (``target`` clamped into it)."""
        sc = spatial_compression

        def fit(value: int, r: Range) -> int:
            return max(r.min, min(r.max, value // sc * sc))

        return fit(target[0], self.height), fit(target[1], self.width)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str) -> ShapeProfile:
        try:
            ranges = {
                k: Range(**{q: int(d[k][q]) for q in ("min", "opt", "max")})
                for k in ("batch", "height", "width")
            }
            return cls(
                name=str(d.get("name", Path(where).stem)),
                chunk_frames=int(d["chunk_frames"]),
                description=str(d.get("description", "")),
                **ranges,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(
                f"{where}: not a shape profile ({type(e).__name__}: {e}); it needs chunk_frames and "
                "batch/height/width tables with min, opt, max"
            ) from None


def profile_dirs() -> list[Path]:
    """Where profile names are looked up: ``$VAEKIT_PROFILES`` (``os.pathsep``-separated), then the
    ``export/`` folder of the vaekit source tree, then the copy a wheel carries (``vaekit/_profiles``)."""
    dirs = [Path(p) for p in os.environ.get("VAEKIT_PROFILES", "").split(os.pathsep) if p]
    package = Path(__file__).resolve().parents[1]
    return dirs + [package.parent / "export", package / "_profiles"]


def list_profiles() -> list[str]:
    return sorted({p.stem for d in profile_dirs() if d.is_dir() for p in d.glob("*.toml")})


def load_profile(name_or_path: str | os.PathLike = DEFAULT_PROFILE) -> ShapeProfile:
    """A profile from a ``.toml`` path or a name (``256p``, ``480p``, ``720p``, ...)."""
    path = Path(name_or_path)
    if not path.is_file():
        if path.suffix == ".toml" or path.parent != Path("."):
            raise InputError(f"{path}: no such profile file")
        found = [d / f"{name_or_path}.toml" for d in profile_dirs() if (d / f"{name_or_path}.toml").is_file()]
        if not found:
            raise InputError(
                f"no profile named {str(name_or_path)!r}; profiles: {', '.join(list_profiles()) or 'none'}"
            )
        path = found[0]
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"cannot read profile {path}: {e}") from None
    return ShapeProfile.from_dict(data, str(path))
