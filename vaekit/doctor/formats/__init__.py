"""Readers for the log formats of other trainers: text lines, CSV tables, TensorBoard events.

Each reader returns plain ``{key: value}`` mappings (or :class:`text.TextLine` objects) and
leaves names, steps and phases to :mod:`vaekit.doctor.logs`.
"""
