"""Training: the command line, session set-up, the loop, checkpoints, validation, metrics and tracking."""
