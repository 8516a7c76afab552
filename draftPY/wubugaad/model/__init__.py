"""The VAE-GAN network: clip encoder, motion branch, generator, discriminator and their losses.

`build(args)` → `(model, discriminator)` is the public way to make the network.
"""

from wubugaad.model.vaegan import MODES, ModelOutput, WuBuGAADHybridGen, aligned_clips, build

__all__ = ["MODES", "ModelOutput", "WuBuGAADHybridGen", "aligned_clips", "build"]
