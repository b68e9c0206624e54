"""Readers for the log formats of other trainers: text lines, CSV tables, TensorBoard events.

Each reader returns plain ``{key: value}`` mappings (or :class:`text.TextLine` objects) and
leaves names, steps and phases to :mod:`vaekit.doctor.logs`.
"""

from __future__ import annotations


class PrintedFloat(float):
    """A float that remembers the text it was parsed from (so rounding can be told from a mismatch:
    JSON via ``json.loads(parse_float=PrintedFloat)``, CSV cells)."""

    token: str

    def __new__(cls, token: str) -> PrintedFloat:
        obj = super().__new__(cls, float(token))
        obj.token = token
        return obj
