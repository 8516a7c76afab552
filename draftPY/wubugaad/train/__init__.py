"""Training: the loop, its tracking and the run report."""
