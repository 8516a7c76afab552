"""WuBuGAADHybridGen: a video VAE-GAN built on hyperbolic WuBu nesting and golden-ratio GAAD regions."""

__version__ = "0.2.0"
