"""The names of the loss breakdown, the one list of them: the losses module writes them, the trainer
averages them, the logger and the Q-controllers read them (imports nothing of the package, so the
optimizers' layer can read it without importing the model)."""

from __future__ import annotations

__all__ = ["GEN_LOSS_KEYS", "DISC_LOSS_KEYS", "LOSS_KEYS", "pick"]

GEN_LOSS_KEYS = ("loss_g_recon", "loss_g_forecast", "loss_g_prior", "loss_g_kl", "loss_g_kl_map",
                 "loss_g_adv", "loss_g_total")
DISC_LOSS_KEYS = ("loss_d_real", "loss_d_fake", "loss_d_total")
LOSS_KEYS = GEN_LOSS_KEYS + DISC_LOSS_KEYS


def pick(*names: str) -> tuple[str, ...]:
    """``names`` as a tuple, each checked to be a loss key (``KeyError`` naming it otherwise): a reader's
    selection can never drift from what the losses module writes."""
    unknown = [n for n in names if n not in LOSS_KEYS]
    if unknown:
        raise KeyError(f"not loss breakdown keys: {', '.join(unknown)} (see wubugaad.loss_names.LOSS_KEYS)")
    return names
