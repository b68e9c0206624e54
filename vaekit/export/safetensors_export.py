"""Export a model as a weights-only model folder: ``config.json`` + ``model.safetensors``.

The folder loads with ``vaekit.load(DIR)`` like any preset. Weights can be stored cast to fp16 or
bf16 (half the size); they are computed in the dtype the loader asks for. An fp32 export is
bit-identical to the source model, which :func:`weight_error` lets the parity step prove.
"""

from __future__ import annotations

from pathlib import Path

from ..model import CausalVideoVAE, save_model
from ..model.folder import CONFIG_NAME, WEIGHTS_NAME
from ..runtime.exported import TORCH_DTYPES


def export_safetensors(model: CausalVideoVAE, out_dir: Path, dtype: str) -> list[Path]:
    """Write the model folder into ``out_dir`` (weights stored in ``dtype``); returns its files."""
    save_model(model, out_dir, TORCH_DTYPES[dtype])
    return [out_dir / CONFIG_NAME, out_dir / WEIGHTS_NAME]


def weight_error(a: CausalVideoVAE, b: CausalVideoVAE) -> float:
    """Largest absolute difference between the weights of two models of one architecture."""
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k].double() - sb[k].double().to(sa[k].device)).abs().max().item() for k in sa)
