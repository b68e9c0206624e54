"""The words of the health rules: per metric family, ``say(verdict, ctx) -> (message, advice)``.

A wording decides nothing: the level, the evidence and which case applies come from the verdict
(``vaekit.doctor.checks.<metric>``); it only quotes them, with the thresholds and units of the
context.
"""
