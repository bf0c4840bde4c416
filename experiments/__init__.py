"""Experiment scripts: one module per figure or study, each a thin composition of ``sim``."""
