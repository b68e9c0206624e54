"""LPIPS for the perceptual loss, without ever triggering a download.

The ``lpips`` package ships its small linear heads but asks torchvision for the VGG/AlexNet
backbone, which torchvision downloads on first use. Here the backbone file is looked up first
(``lpips_backbone_path``, else torchvision's cache in ``$TORCH_HOME/hub/checkpoints``); when it
is absent the run stops with one line saying where to put it. The network is always built with
``pnet_rand=True`` (no download) and the backbone weights are then loaded from the file with
``weights_only=True``. ``lpips_random_backbone`` keeps the random backbone for tests and says
loudly that its numbers are not LPIPS.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, MissingDependencyError


def backbone_url(net: str) -> str:
    from torchvision.models import AlexNet_Weights, VGG16_Weights

    return {"vgg": VGG16_Weights, "alex": AlexNet_Weights}[net].IMAGENET1K_V1.url


def find_backbone(net: str, path: str = "") -> Path:
    """The backbone weights file: ``path`` if given, else torchvision's cache; never downloads."""
    if path:
        if not Path(path).is_file():
            raise InputError(f"lpips_backbone_path {path} is not a file")
        return Path(path)
    name = backbone_url(net).rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    if cached.is_file():
        return cached
    raise MissingDependencyError(
        f"LPIPS needs the torchvision {net} backbone {name}, which is not in {cached.parent} and cannot be "
        f"downloaded here: fetch {backbone_url(net)} on another machine and put it there (or set TORCH_HOME), "
        "or set lpips_backbone_path, or set perceptual_weight = 0"
    )


class PerFrameLPIPS(nn.Module):
    """Mean LPIPS over all frames of ``B, 3, T, H, W`` clips in [-1, 1]; frozen, no gradients kept.

    ``is_lpips`` is False for the random backbone: its numbers must not be reported as LPIPS.
    """

    def __init__(self, net: str = "vgg", backbone_path: str = "", random_backbone: bool = False):
        super().__init__()
        import lpips

        weights = None if random_backbone else find_backbone(net, backbone_path)
        with warnings.catch_warnings():  # torchvision's "pretrained is deprecated" from inside lpips
            warnings.simplefilter("ignore", UserWarning)
            self.lpips = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
        if weights is not None:
            _load_backbone(self.lpips.net, net, weights)
        else:
            warnings.warn(
                "LPIPS runs with a RANDOM backbone (lpips_random_backbone = true): perception_loss is "
                "not LPIPS, only a test signal",
                stacklevel=2,
            )
        self.is_lpips = weights is not None
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True):  # always in eval mode (dropout in the heads stays off)
        return super().train(False)

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        frames = [t.transpose(1, 2).flatten(0, 1) for t in (x_hat, x)]  # B*T, 3, H, W
        return self.lpips(*frames).mean()


def _load_backbone(pnet: nn.Module, net: str, path: Path) -> None:
    """Copy torchvision ``features.N`` weights into lpips' ``sliceK.N`` layers."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which and why
        raise InputError(f"cannot read LPIPS backbone {path}: {e}") from None
    loaded = 0
    for name, layer in pnet.named_modules():
        index = name.rsplit(".", 1)[-1]
        if isinstance(layer, nn.Conv2d):
            try:
                layer.weight.data.copy_(state[f"features.{index}.weight"])
                layer.bias.data.copy_(state[f"features.{index}.bias"])
            except (KeyError, RuntimeError):
                raise InputError(
                    f"{path} is not torchvision's {net} backbone (layer features.{index})"
                ) from None
            loaded += 1
    if loaded == 0:
        raise InputError(f"{path}: no backbone layer was loaded")
