"""GAAD: golden-ratio box sets for a frame and the region tokens pooled from them."""
