"""``python -m vaekit.cli ...`` is the ``vaekit`` command too."""

from . import main

main(prog_name="vaekit")
