"""Losses: KL closed forms, exact weighted total, D loss values, gradients."""

import math

import pytest
import torch
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl
from wubugaad.model.losses import (
    LOSS_KEYS,
    LossConfig,
    discriminator_loss,
    generator_losses,
    kl_divergence,
    reconstruction_loss,
)
from wubugaad.model.vaegan import ModelOutput


def weights(lambda_recon=10.0, lambda_kl=1e-4, lambda_gan=1.0, recon_loss="mse", **overrides) -> LossConfig:
    """A loss configuration with the adversarial weight in full from step 0."""
    fields = dict(lambda_recon=lambda_recon, lambda_kl=lambda_kl, lambda_kl_map=0.0, lambda_recon_prior=0.0,
                  lambda_gan=lambda_gan, gan_start_step=0, gan_ramp_steps=0, recon_loss=recon_loss,
                  q_controller_enabled=False)
    return LossConfig(**{**fields, **overrides})


def output(pred, mu, logvar, prior_mu=None, prior_logvar=None, **rest) -> ModelOutput:
    """A model output; the prior defaults to the fixed one (zeros: N(0, I))."""
    prior_mu = torch.zeros_like(mu) if prior_mu is None else prior_mu
    prior_logvar = torch.zeros_like(logvar) if prior_logvar is None else prior_logvar
    return ModelOutput(pred, mu, logvar, None, prior_mu, prior_logvar, None, **rest)


def _gauss(B=3, D=5, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, D, generator=g, dtype=dtype), torch.randn(B, D, generator=g, dtype=dtype) * 0.5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_kl_standard_prior_matches_torch_distributions(dtype):
    mu, logvar = _gauss(dtype=dtype)
    kl, per_dim = kl_divergence(mu, logvar)
    ref = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    ref = ref.sum(1).mean()
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.allclose(kl, ref, atol=tol, rtol=tol)
    assert torch.allclose(per_dim, ref / mu.shape[1], atol=tol, rtol=tol)


def test_kl_learned_prior_matches_torch_distributions():
    mu, logvar = _gauss(seed=1)
    pmu, plogvar = _gauss(seed=2)
    kl, _ = kl_divergence(mu, logvar, pmu, plogvar)
    ref = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(pmu, (0.5 * plogvar).exp())).sum(1).mean()
    assert torch.allclose(kl, ref, atol=1e-12)


def test_kl_zero_when_posterior_equals_prior():
    mu, logvar = _gauss()
    assert kl_divergence(mu, logvar, mu.clone(), logvar.clone())[0].abs() < 1e-12
    assert kl_divergence(torch.zeros(2, 4), torch.zeros(2, 4))[0].abs() < 1e-7


def test_kl_needs_both_prior_terms():
    mu, logvar = _gauss()
    with pytest.raises(ValueError, match="prior_logvar"):
        kl_divergence(mu, logvar, prior_mu=mu)


def test_generator_total_is_exact_weighted_sum_and_detached_breakdown():
    torch.manual_seed(0)
    pred = torch.randn(2, 1, 3, 8, 8, requires_grad=True)
    target = torch.rand(2, 1, 3, 8, 8) * 2 - 1
    mu = torch.randn(2, 6, requires_grad=True)
    logvar = torch.randn(2, 6, requires_grad=True)
    logits = torch.randn(2, requires_grad=True)
    total, bd = generator_losses(output(pred, mu, logvar), target, weights(), 0, logits)
    assert set(bd) == {"loss_g_recon", "loss_g_forecast", "loss_g_prior", "loss_g_kl", "loss_g_kl_map",
                       "loss_g_kl_per_dim", "loss_g_adv", "loss_g_total"}
    assert all(not v.requires_grad and v.dim() == 0 for v in bd.values())
    weighted = 10.0 * bd["loss_g_recon"] + 1e-4 * bd["loss_g_kl"] + 1.0 * bd["loss_g_adv"]
    assert torch.equal(total.detach(), weighted)
    assert torch.equal(bd["loss_g_total"], total.detach())
    assert torch.allclose(bd["loss_g_recon"], ((pred - target) ** 2).mean())
    assert torch.allclose(bd["loss_g_adv"], torch.nn.functional.softplus(-logits).mean())
    total.backward()
    for t in (pred, mu, logvar, logits):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    without, bd_without = generator_losses(output(pred, mu, logvar), target, weights(), 0)
    assert "loss_g_adv" not in bd_without and set(bd_without) == set(bd) - {"loss_g_adv"}
    assert torch.equal(without.detach(), 10.0 * bd["loss_g_recon"] + 1e-4 * bd["loss_g_kl"])


def test_the_loss_configuration_says_whether_a_discriminator_trains_and_which_keys_are_logged():
    assert weights().trains_discriminator and weights().keys == LOSS_KEYS
    plain = weights(lambda_gan=0.0)
    assert not plain.trains_discriminator
    assert plain.keys == tuple(k for k in LOSS_KEYS if k != "loss_g_adv" and "_d_" not in k)
    # the Q-controller watches D's losses, so D trains even without an adversarial term
    assert weights(lambda_gan=0.0, q_controller_enabled=True).trains_discriminator


def test_the_loss_configuration_is_built_from_the_flags():
    from _configs import defaults
    args = defaults(lambda_gan=0.25, gan_start_step=7)
    cfg = LossConfig.from_args(args)
    assert (cfg.lambda_gan, cfg.gan_start_step, cfg.lambda_recon) == (0.25, 7, args.lambda_recon)


def test_generator_losses_learned_prior_gradients_reach_prior():
    mu, logvar = (t.requires_grad_() for t in _gauss(dtype=torch.float32))
    pmu, plogvar = (t.requires_grad_() for t in _gauss(dtype=torch.float32, seed=3))
    x = torch.zeros(3, 1, 1, 2, 2)
    total, bd = generator_losses(output(x, mu, logvar, pmu, plogvar), x, weights(1.0, 1.0, 0.0), 0,
                                 torch.zeros(3))
    assert torch.allclose(bd["loss_g_kl"], kl_divergence(mu, logvar, pmu, plogvar)[0].detach())
    total.backward()
    assert pmu.grad.abs().sum() > 0 and plogvar.grad.abs().sum() > 0


def test_discriminator_loss_known_values():
    real = torch.zeros(4)
    fake = torch.zeros(4)
    total, bd = discriminator_loss(real, fake)
    assert torch.allclose(total, torch.tensor(math.log(2.0)))
    real = torch.full((3,), 2.0)
    fake = torch.full((3,), -1.0, requires_grad=True)
    total, bd = discriminator_loss(real, fake)
    exp_real, exp_fake = math.log1p(math.exp(-2.0)), math.log1p(math.exp(-1.0))
    assert abs(bd["loss_d_real"].item() - exp_real) < 1e-6
    assert abs(bd["loss_d_fake"].item() - exp_fake) < 1e-6
    assert abs(bd["loss_d_total"].item() - 0.5 * (exp_real + exp_fake)) < 1e-6
    total.backward()
    assert (fake.grad > 0).all()


def test_reconstruction_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="target"):
        reconstruction_loss(torch.zeros(1, 2, 3), torch.zeros(1, 3, 3))


@pytest.mark.parametrize("kind", ["l1", "mse", "l1+mse"])
def test_reconstruction_kinds_and_exact_total(kind):
    torch.manual_seed(1)
    pred = torch.randn(2, 2, 3, 4, 4, requires_grad=True)
    target = torch.rand(2, 2, 3, 4, 4) * 2 - 1
    l1, mse = (pred - target).abs().mean(), (pred - target).square().mean()
    expected = {"l1": l1, "mse": mse, "l1+mse": l1 + mse}[kind]
    assert torch.allclose(reconstruction_loss(pred, target, kind), expected)
    mu, logvar, logits = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2)
    cfg = weights(100.0, 0.01, 0.05, kind)
    total, bd = generator_losses(output(pred, mu, logvar), target, cfg, 0, logits)
    assert torch.allclose(bd["loss_g_recon"], expected.detach())
    weighted = 100.0 * bd["loss_g_recon"] + 0.01 * bd["loss_g_kl"] + 0.05 * bd["loss_g_adv"]
    assert torch.equal(total.detach(), weighted) and torch.equal(bd["loss_g_total"], weighted)
    with pytest.raises(ValueError, match="--recon_loss 'l2' unknown"):
        reconstruction_loss(pred, target, "l2")


def test_gan_weight_warm_up_and_linear_ramp():
    at_once = weights(lambda_gan=0.5, gan_start_step=10)
    assert [at_once.gan_weight(s) for s in (-1, 0, 9, 10, 500)] == [0.0, 0.0, 0.0, 0.5, 0.5]
    ramp = weights(lambda_gan=1.0, gan_start_step=10, gan_ramp_steps=4)
    assert [ramp.gan_weight(s) for s in range(8, 16)] == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert weights(lambda_gan=2.0).gan_weight(-3) == 2.0  # before the first step: the weight of step 0


def test_the_adversarial_term_follows_the_schedule_of_the_step():
    torch.manual_seed(2)
    pred, target = torch.randn(2, 1, 3, 4, 4), torch.randn(2, 1, 3, 4, 4)
    mu, logvar, logits = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2)
    cfg = weights(lambda_gan=0.8, gan_start_step=5, gan_ramp_steps=2)
    before, bd = generator_losses(output(pred, mu, logvar), target, cfg, 4, logits)
    assert torch.equal(before, 10.0 * bd["loss_g_recon"] + 1e-4 * bd["loss_g_kl"] + 0.0 * bd["loss_g_adv"])
    during, bd = generator_losses(output(pred, mu, logvar), target, cfg, 5, logits)
    assert torch.equal(during, 10.0 * bd["loss_g_recon"] + 1e-4 * bd["loss_g_kl"] + 0.4 * bd["loss_g_adv"])


def test_half_precision_outputs_are_scored_in_float32():
    torch.manual_seed(3)
    pred, target = torch.randn(2, 1, 3, 4, 4), torch.randn(2, 1, 3, 4, 4)
    mu, logvar = torch.randn(2, 3), torch.randn(2, 3)
    half = [t.bfloat16() for t in (pred, mu, logvar)]
    total, _ = generator_losses(output(*half), target, weights(), 0)
    ref, _ = generator_losses(output(*(t.float() for t in half)), target, weights(), 0)
    assert total.dtype == torch.float32 and torch.equal(total, ref)


def test_per_frame_codes_weigh_their_kl_per_frame_pixel_and_the_prior_mean_pass_joins():
    """Codes (B, P, d): the KL is logged in nats per frame (summed over d, averaged over B and P) and
    weighted λ_kl / (C·H·W); the prediction at the prior's mean adds its own reconstruction term."""
    torch.manual_seed(2)
    pred, at_prior, target = (torch.rand(2, 3, 1, 4, 8) for _ in range(3))
    mu, logvar = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    out = output(pred, mu, logvar)._replace(prior_prediction=at_prior)
    total, bd = generator_losses(out, target, weights(lambda_kl=0.5, lambda_recon_prior=2.0), 0)
    per_frame = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1).mean()
    assert torch.allclose(bd["loss_g_kl"], per_frame)
    assert torch.equal(bd["loss_g_prior"], ((at_prior - target) ** 2).mean())
    expected = 10.0 * bd["loss_g_recon"] + 2.0 * bd["loss_g_prior"] + 0.5 * (1.0 / 32) * bd["loss_g_kl"]
    assert torch.equal(total.detach(), expected)
