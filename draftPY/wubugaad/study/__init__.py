"""Ablation studies: the runner that trains a grid of variants over seeds, and their paired statistics
(the top layer: it drives the trainer's parser)."""
