"""Optimizers that keep ball-valued parameters on their balls, and the HAKMEM Q-controller steering them."""
