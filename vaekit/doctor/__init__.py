"""``vaekit doctor``: read a training run's logs, judge its health, draw it."""
