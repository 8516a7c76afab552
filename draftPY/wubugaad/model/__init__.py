"""The VAE-GAN network: clip encoder, motion branch, generator, discriminator and their losses.

`build(settings)` → `(model, discriminator)` is the public way to make the network; `settings` is a
`ModelConfig` or the parser's namespace.
"""

from wubugaad.model.config import ModelConfig
from wubugaad.model.vaegan import MODES, ModelOutput, WuBuGAADHybridGen, aligned_clips, build, model_problems

__all__ = ["MODES", "ModelConfig", "ModelOutput", "WuBuGAADHybridGen", "aligned_clips", "build",
           "model_problems"]
