"""Model folders: ``config.json`` + ``model.safetensors``, and the presets shipped in ``models/``.

The weights file carries the fingerprint of its weights in its metadata (``weights_sha256``,
computed when it is written); a folder written before that has it computed when it is loaded.
See docs/DESIGN.md, "Model folders and fingerprints".
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import InputError
from .config import LatentStatsMissingWarning, VAEConfig
from .vae import CausalVideoVAE

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
DEFAULT_MODEL = "tiny"
#: the metadata key of ``model.safetensors`` that holds the weights' fingerprint
FINGERPRINT_KEY = "weights_sha256"

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_MODEL",
    "FINGERPRINT_KEY",
    "WEIGHTS_NAME",
    "LatentStatsMissingWarning",
    "UntrainedWeightsWarning",
    "list_presets",
    "load_model",
    "preset_with_fingerprint",
    "presets_dirs",
    "resolve_model_dir",
    "save_model",
    "state_sha256",
    "weights_sha256",
]


class UntrainedWeightsWarning(UserWarning):
    """The model folder ships no weights: outputs of the random initialisation are meaningless."""


def presets_dirs() -> list[Path]:
    """Folders searched for model names: ``$VAEKIT_MODELS`` (``os.pathsep``-separated), then the
    ``models/`` folder of the vaekit source tree, then the copy a wheel carries (``vaekit/_presets``)."""
    dirs = [Path(p) for p in os.environ.get("VAEKIT_MODELS", "").split(os.pathsep) if p]
    package = Path(__file__).resolve().parents[1]
    return dirs + [package.parent / "models", package / "_presets"]


def list_presets() -> list[str]:
    names = set()
    for d in presets_dirs():
        if d.is_dir():
            names.update(p.parent.name for p in d.glob(f"*/{CONFIG_NAME}"))
    return sorted(names)


def resolve_model_dir(name_or_path: str | os.PathLike) -> Path:
    """A model folder from a path or a preset name; InputError with the choices otherwise."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise InputError(f"{path} is not a model folder: it has no {CONFIG_NAME}")
        return path
    if path.exists():
        raise InputError(f"{path} is a file; --model takes a model folder or a preset name")
    for d in presets_dirs():
        if (d / str(name_or_path) / CONFIG_NAME).is_file():
            return d / str(name_or_path)
    raise InputError(
        f"no model folder or preset named {str(name_or_path)!r}; presets: {', '.join(list_presets()) or 'none'}"
    )


def weights_sha256(model: torch.nn.Module) -> str:
    """A fingerprint of the weights that ignores file format and storage dtype of the *file*:
    sha256 over the names, shapes and float32 bytes of every tensor, in name order."""
    return state_sha256(model.state_dict())


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """:func:`weights_sha256` of a state dict."""
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def load_model(
    name_or_path: str | os.PathLike = DEFAULT_MODEL,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cls: type[CausalVideoVAE] = CausalVideoVAE,
) -> CausalVideoVAE:
    """Build the model of a folder and load its weights (safetensors only, never pickle)."""
    folder = resolve_model_dir(name_or_path)
    config = VAEConfig.from_json(folder / CONFIG_NAME)
    with torch.random.fork_rng():  # deterministic init, also for weight-less presets
        torch.manual_seed(config.init_seed)
        model = cls(config)
    weights = folder / WEIGHTS_NAME
    if weights.is_file():
        try:
            state = load_file(weights)
            with safe_open(weights, "pt") as f:
                stored = (f.metadata() or {}).get(FINGERPRINT_KEY)
        except (SafetensorError, OSError) as e:
            raise InputError(f"cannot read weights {weights}: {e}") from None
        missing, unexpected = _key_diff(model, state)
        if missing or unexpected:
            raise InputError(
                f"weights in {weights} do not fit {CONFIG_NAME} (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        model.load_state_dict({k: v.float() for k, v in state.items()})
        model.trained = True
        model.fp32_fingerprint = stored or weights_sha256(model)  # a folder from before the metadata
    else:
        warnings.warn(
            f"model {config.name!r} ({folder}) has no trained weights ({WEIGHTS_NAME} is missing): "
            "outputs are meaningless until weights ship",
            UntrainedWeightsWarning,
            stacklevel=2,
        )
        model.trained = False
        model.fp32_fingerprint = weights_sha256(model)
    model.source_dir = folder
    return model.to(device=device, dtype=dtype).eval()


def preset_with_fingerprint(sha256: str) -> str | None:
    """The name of the shipped (or ``$VAEKIT_MODELS``) preset whose weights have this fingerprint."""
    for name in list_presets():
        if not (resolve_model_dir(name) / WEIGHTS_NAME).is_file():
            continue  # a preset without weights (base) cannot have made a latent worth decoding
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = load_model(name)
        except InputError:
            continue
        if model.trained and model.fp32_fingerprint == sha256:
            return name
    return None


def _key_diff(model: torch.nn.Module, state: dict) -> tuple[list[str], list[str]]:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    return missing + wrong_shape, unexpected


def save_model(model: CausalVideoVAE, folder: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (each atomically) into ``folder``; the
    weights' metadata carries their fingerprint (:func:`weights_sha256` of the weights as stored)."""
    from ..io.atomic import atomic_output, make_folder

    folder = make_folder(folder)
    state = {k: v.detach().to("cpu", dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    with atomic_output(folder / WEIGHTS_NAME) as tmp:
        metadata = {"format": "pt", "model": model.config.name, FINGERPRINT_KEY: state_sha256(state)}
        save_file(state, str(tmp), metadata=metadata)
    with atomic_output(folder / CONFIG_NAME) as tmp:
        Path(tmp).write_text(model.config.to_json())
    return folder
