"""vaekit: train, export and serve causal video VAEs.

import vaekit
vae = vaekit.load("tiny")                  # a torch.nn.Module
posterior = vae.encode(x)                  # x: B, 3, T, H, W in [-1, 1]
x_hat = vae.decode(posterior.sample())
"""

__version__ = "0.1.0"


def __getattr__(name):  # keep `import vaekit` light: torch loads on first use
    if name in ("load", "VideoVAE", "EncodedVideo"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")


__all__ = ["EncodedVideo", "VideoVAE", "__version__", "load"]
