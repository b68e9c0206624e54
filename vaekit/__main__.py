"""``python -m vaekit ...`` (what torchrun launches) is the ``vaekit`` command."""

from .cli import main

main(prog_name="vaekit")
