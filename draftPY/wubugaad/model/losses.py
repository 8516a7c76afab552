"""VAE-GAN losses: each function returns ``(total, breakdown)``.

Generator objective::

    L_G = λ_recon · (R(pred, target) + R(forecast, target)) + λ_recon,prior · R(pred_prior, target)
          + λ_kl · KL(q ‖ p) / (C·H·W) + λ_kl,map · KL(q_map ‖ N(0, I)) + λ_gan,eff · BCE(D(fake), 1)

The latent's KL (spatial generator: one code per future frame, ``model/frame_latent.py``) is summed over
the d dimensions, averaged over frames and batch, i.e. nats per frame, and divided by the pixels of a frame
``C·H·W`` ("normalised β", Higgins et al. 2017). Why: ``R`` is a mean over pixels, so per frame the
reconstruction weighs each pixel ``λ_recon / (C·H·W)``, and the KL then weighs a nat ``λ_kl / (C·H·W)``: the
trade between a nat of code and a pixel's error is ``λ_kl / λ_recon`` whatever the frame size and the number
of frames, and the phase ramp's ``λ_kl`` values (1e-3 … 1e-1 against ``λ_recon = 100``) keep their meaning
from 16×16 to 256×256. An unnormalised KL would cost ``C·H·W`` times more at the same ``λ_kl``: at 64×64×3
a nat would outweigh the whole frame's mean error, and the posterior would carry nothing. ``loss_g_kl``
logs the raw KL in nats per frame. The global generator's clip-level ``z`` keeps v0.1's unnormalised
``λ_kl · KL`` (nats per clip).

``pred_prior`` is the prediction at the prior's mean (what ``predict`` returns), run in the same batched
forward (``--lambda_recon_prior``): at a small β the posterior's code carries much of the target, and a
decoder trained on it alone predicts worse from the prior's mean than a model without a latent (the
"posterior shortcut"); this term trains the decoder and the prior to predict as the deterministic model
does, and the posterior's code to carry what the prior cannot.

with ``R`` the per-pixel L1, MSE or their sum (``--recon_loss``), the forecast term only with the spatial
latent on (``pred`` is then the forecast, detached, plus the latent's correction: each term trains its own
part, ``model/latent_map.py``) and ``λ_gan,eff = LossConfig.gan_weight(step)``,
zero until ``--gan_start_step`` and rising linearly to ``λ_gan`` over ``--gan_ramp_steps``, so D only pushes
G once G predicts. ``LossConfig`` owns every weight, the GAN schedule and whether a discriminator trains at
all. Discriminator objective::

    L_D = ½ · (BCE(D(real), 1) + BCE(D(fake), 0))

The breakdown dicts hold detached 0-dim tensors (no host sync here; the trainer averages them over a
macro-batch and converts once per log step). Key names are the ones the Q-controller and the logger read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from wubugaad.flagconfig import FlagConfig
from wubugaad.loss_names import DISC_LOSS_KEYS, GEN_LOSS_KEYS, LOSS_KEYS

if TYPE_CHECKING:
    from wubugaad.model.vaegan import ModelOutput

__all__ = ["GEN_LOSS_KEYS", "DISC_LOSS_KEYS", "LOSS_KEYS", "RECON_LOSSES", "LossConfig",
           "reconstruction_loss", "kl_divergence", "generator_losses", "discriminator_loss"]

RECON_LOSSES = ("l1", "mse", "l1+mse")


@dataclass(frozen=True)
class LossConfig(FlagConfig):
    """The objective's settings, by flag name: the weights, the reconstruction term, the GAN schedule, and
    (through ``trains_discriminator``) whether the run has a discriminator at all."""

    lambda_recon: float
    lambda_kl: float
    lambda_kl_map: float
    lambda_recon_prior: float
    lambda_gan: float
    gan_start_step: int
    gan_ramp_steps: int
    recon_loss: str
    q_controller_enabled: bool

    @property
    def trains_discriminator(self) -> bool:
        """Whether something reads a discriminator: the adversarial term (``--lambda_gan`` > 0) or the
        Q-controller, which watches its losses. Otherwise (``--lambda_gan 0``, the benchmarks' plain
        reconstruction training) it is neither run nor trained: on Moving Fashion-MNIST its forward and
        backward passes took a third of the step time for nothing."""
        return self.lambda_gan > 0 or self.q_controller_enabled

    @property
    def keys(self) -> tuple[str, ...]:
        """The breakdown keys of the run: all of them, or without a discriminator the generator's but
        ``adv``."""
        if self.trains_discriminator:
            return LOSS_KEYS
        return tuple(k for k in GEN_LOSS_KEYS if k != "loss_g_adv")

    def gan_weight(self, step: int) -> float:
        """Effective adversarial weight at optimizer ``step`` (steps done so far, negative read as 0): 0
        before ``gan_start_step``, then ``λ_gan · min(1, (step − start + 1) / ramp)`` (``ramp = 0``: ``λ_gan``
        at once)."""
        step = max(int(step), 0)
        if step < self.gan_start_step:
            return 0.0
        if self.gan_ramp_steps <= 0:
            return float(self.lambda_gan)
        return float(self.lambda_gan) * min(1.0, (step - self.gan_start_step + 1) / self.gan_ramp_steps)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean over every element of ``|pred − target|`` (l1), ``(pred − target)²`` (mse) or their sum
    (l1+mse), in the model's [-1, 1] pixel space."""
    if pred.shape != target.shape:
        raise ValueError(f"reconstruction_loss: pred shape {tuple(pred.shape)} != target shape "
                         f"{tuple(target.shape)}; the generator must output exactly the target frames")
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "l1+mse":
        return F.l1_loss(pred, target) + F.mse_loss(pred, target)
    raise ValueError(f"--recon_loss {kind!r} unknown; use one of {', '.join(RECON_LOSSES)}")


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, prior_mu: torch.Tensor | None = None,
                  prior_logvar: torch.Tensor | None = None, event_dims: int = 1,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """KL(N(μ, σ²) ‖ N(μ_p, σ_p²)) for diagonal Gaussians, summed over the last ``event_dims`` dims (one
    code: ``d``, or a map's ``(N, h, w)``), averaged over the others (batch, and frames for ``(B, P, d)``).

    Per dim::

        KL = ½ · (logσ_p² − logσ² + (σ² + (μ − μ_p)²) / σ_p² − 1)

    which reduces to ``-½ (1 + logσ² − μ² − σ²)`` for the fixed prior N(0, I) (both prior args None).
    Returns ``(kl, kl_per_dim)`` with ``kl_per_dim = kl / latent_dim`` (the value v0.1 logged; 0 for an
    empty code, ``--latent_dim 0``).
    """
    if (prior_mu is None) != (prior_logvar is None):
        raise ValueError("kl_divergence: pass both prior_mu and prior_logvar (learned prior) or neither "
                         "(fixed N(0, I) prior)")
    var = logvar.exp()
    if prior_mu is None:
        per_elem = -0.5 * (1.0 + logvar - mu.pow(2) - var)
    else:
        per_elem = 0.5 * (prior_logvar - logvar + (var + (mu - prior_mu).pow(2)) * torch.exp(-prior_logvar)
                          - 1.0)
    per_code = per_elem.flatten(-event_dims).sum(dim=-1)  # (B,) or (B, P)
    kl = per_code.mean()
    return kl, kl / max(per_elem.flatten(-event_dims).shape[-1], 1)


def _f32(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


def generator_losses(out: ModelOutput, target: torch.Tensor, cfg: LossConfig, step: int,
                     fake_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted generator loss of a model output on ``target`` frames at optimizer ``step``, and its
    breakdown.

    Computed in float32 whatever the autocast dtype of the forward (a deliberate island: the sums of the
    KL and the means of the reconstruction lose bits in half precision). ``fake_logits`` is D's output on
    ``[context ; predictions]`` with gradients flowing into G; the adversarial term is the non-saturating
    ``BCE(D(fake), 1)`` weighted by ``cfg.gan_weight(step)``; ``fake_logits=None`` (no discriminator in the
    run) leaves the term and its key out. The vector latent's KL is taken against the output's prior
    (zeros, i.e. ``N(0, I)``, for the fixed prior); the spatial latent's (``map_mu``/``map_logvar``
    `(B, N, h, w)`, when present) against ``N(0, I)``, summed over cells; ``out.forecast`` (the generator's
    output before the latent's correction, when present) is scored by the same reconstruction term.
    ``loss_g_total`` is built from exactly the same terms, so it equals
    ``λ_recon·(recon + forecast) + λ_recon,prior·prior + λ_kl·kl/(C·H·W) + λ_kl,map·kl_map + λ_gan,eff·adv``
    bit-for-bit (the
    division only for the spatial generator's per-frame codes; ``kl`` is the logged ``loss_g_kl``).
    """
    target = target.float()
    recon = reconstruction_loss(out.prediction.float(), target, cfg.recon_loss)
    zero = recon.new_zeros(())
    forecast = _f32(out.forecast)
    ahead = zero if forecast is None else reconstruction_loss(forecast, target, cfg.recon_loss)
    at_prior = _f32(out.prior_prediction)
    prior_recon = zero if at_prior is None else reconstruction_loss(at_prior, target, cfg.recon_loss)
    kl, kl_per_dim = kl_divergence(out.mu.float(), out.logvar.float(), _f32(out.prior_mu),
                                   _f32(out.prior_logvar))
    # the spatial generator's codes (B, K, d), each covering P/K frames: nats over the pixels a code covers
    kl_scale = out.mu.shape[1] / target[0].numel() if out.mu.dim() == 3 else 1.0
    kl_map = zero if out.map_mu is None else kl_divergence(out.map_mu.float(), out.map_logvar.float(),
                                                           event_dims=3)[0]
    total = (cfg.lambda_recon * (recon + ahead) + cfg.lambda_recon_prior * prior_recon
             + cfg.lambda_kl * kl_scale * kl + cfg.lambda_kl_map * kl_map)
    adv = None
    if fake_logits is not None:
        adv = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        total = total + cfg.gan_weight(step) * adv
    parts = {"loss_g_recon": recon, "loss_g_forecast": ahead, "loss_g_prior": prior_recon,
             "loss_g_kl": kl, "loss_g_kl_map": kl_map,
             "loss_g_adv": adv, "loss_g_total": total}
    breakdown = {k: parts[k].detach() for k in GEN_LOSS_KEYS if parts[k] is not None}
    breakdown["loss_g_kl_per_dim"] = kl_per_dim.detach()
    return total, breakdown


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``½ (BCE(real, 1) + BCE(fake, 0))``; ``fake_logits`` must come from detached predictions."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    total = 0.5 * (real + fake)
    return total, dict(zip(DISC_LOSS_KEYS, (real.detach(), fake.detach(), total.detach()), strict=True))
