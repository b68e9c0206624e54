"""The ``vaekit`` command line (click): the group and its commands, one module per group.

Each command is a thin layer: its option groups build typed objects (:mod:`.common`:
``StreamArgs``, ``BackendArgs``), the body checks inputs and outputs (:mod:`vaekit.paths`), opens
a backend and calls a job from :mod:`vaekit.runtime` (or train/export/doctor), printing one line
(or one JSON object) per output. Errors a user can fix print one ``error:`` line on stderr and
exit non-zero; Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129, each with one line and no partial
output (every writer renames a finished temporary file, and an interruption removes it).

- :mod:`.codec`: encode, decode, roundtrip, info (:mod:`.dataset`: encode's dataset mode)
- :mod:`.model`: stats, demo, export, weights
- :mod:`.train`: train, model-from-run
- :mod:`.evaluate`: eval
- :mod:`.doctor`: doctor

Nothing here imports torch: commands import what they run inside their bodies.
"""

from __future__ import annotations

import click

from .. import __version__
from ..paths import expand_inputs, output_paths
from . import codec, doctor, evaluate, model, train
from .common import BackendArgs, StreamArgs, handle_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vaekit")
def main():
    """vaekit: train, export and serve causal video VAEs.

    \b
    Everyday use:
      vaekit encode clip.mp4                       -> clip.latent.safetensors
      vaekit decode clip.latent.safetensors        -> clip.decoded.mp4
      vaekit roundtrip clip.mp4                    -> clip.roundtrip.mp4 (prints PSNR/SSIM)
      vaekit info clip.latent.safetensors | MODEL
    Videos stream through the model in chunks: memory stays flat in video length.
    """


for _command in (
    codec.encode,
    codec.decode,
    codec.roundtrip,
    codec.info,
    model.stats,
    model.demo,
    train.train,
    train.model_from_run,
    doctor.doctor,
    evaluate.eval_cmd,
    model.weights,
    model.export_cmd,
):
    main.add_command(_command)
del _command

__all__ = [
    "BackendArgs",
    "StreamArgs",
    "expand_inputs",
    "handle_errors",
    "main",
    "output_paths",
]
