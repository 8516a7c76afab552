"""The spatial latent: what its posterior reads, that prediction never reads it, that each loss trains
its own part, its KL term and its configuration errors."""

import re

import pytest
import torch
from test_model import clip_and_flow, make
from wubugaad.model.latent_map import LatentCorrection, sample_map
from wubugaad.model.losses import LossConfig, generator_losses, kl_divergence, reconstruction_loss
from wubugaad.model.vaegan import MODES, ModelOutput


def _map_model(*extra):
    model, _, args = make("--image_h", "32", "--image_w", "48", "--latent_map_channels", "3", *extra)
    torch.manual_seed(5)  # a 'trained' correction and posterior, so the code shows in the output
    torch.nn.init.normal_(model.correction.out.weight, std=0.1)
    with torch.no_grad():
        model.latent_map.head.weight.mul_(100.0)
    return model, args


def test_map_shapes_per_mode_and_the_forecast_where_a_loss_reads_it():
    model, args = _map_model()
    clip, _ = clip_and_flow(args)
    for mode in MODES:
        out = model(clip, mode=mode)
        assert out.map_mu.shape == out.map_logvar.shape == (2, 3, 8, 12)  # stride 4 of 32×48
        if mode in ("predict", "generate"):  # the prior N(0, I)
            assert not out.map_mu.any() and not out.map_logvar.any() and out.forecast is None
        else:
            assert out.map_mu.abs().max() > 0 and out.forecast.shape == out.prediction.shape
    plain, _, _ = make("--image_h", "32", "--image_w", "48", "--latent_map_channels", "0")
    out = plain(clip, mode="train")
    assert out.map_mu is None and out.forecast is None and plain.latent_map is None


def test_reconstruction_reads_the_targets_and_prediction_is_the_forecast_untouched():
    model, args = _map_model()
    clip, _ = clip_and_flow(args)
    other, _ = clip_and_flow(args, seed=7)
    I = args.num_input_frames
    new_targets = torch.cat([clip[:, :I], other[:, I:]], dim=1)
    model.eval()
    with torch.no_grad():
        rec, rec_new = (model(c, mode="reconstruct") for c in (clip, new_targets))
        pred = model(clip, mode="predict").prediction
        assert (rec.map_mu - rec_new.map_mu).abs().max() > 1e-3
        # the correction moves the reconstruction away from its own forecast, and by the targets
        assert (rec.prediction - rec.forecast).abs().max() > 1e-3
        assert (rec.prediction - rec_new.prediction - (rec.forecast - rec_new.forecast)).abs().max() > 1e-3
        assert torch.equal(pred, model(new_targets, mode="predict").prediction)
        # prediction skips the correction: its weights do not matter
        model.correction.out.weight.normal_()
        assert torch.equal(pred, model(clip, mode="predict").prediction)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_correction_is_exactly_zero_at_the_prior_mean(seed):
    torch.manual_seed(seed)
    net = LatentCorrection(map_channels=4, frame_channels=3, num_predict=2, width=8)
    for layer in (net.frames, net.code, net.mid, net.out):
        torch.nn.init.normal_(layer.weight)
    torch.nn.init.normal_(net.frames.bias)
    forecast, last = torch.randn(2, 2, 3, 16, 20), torch.randn(2, 3, 16, 20)
    assert torch.equal(net(torch.zeros(2, 4, 4, 5), forecast, last), torch.zeros(2, 2, 3, 16, 20))
    assert net(torch.randn(2, 4, 4, 5), forecast, last).abs().max() > 1e-2


def test_each_loss_trains_its_own_part():
    """The forecast's loss reaches the generator and not the latent; the reconstruction's loss reaches the
    posterior and the correction and not the generator (it reads the forecast detached)."""
    model, args = _map_model()
    clip, _ = clip_and_flow(args)
    I = args.num_input_frames
    out = model(clip, mode="train")
    reconstruction_loss(out.prediction, clip[:, I:], "l1").backward(retain_graph=True)
    assert model.latent_map.head.weight.grad.abs().sum() > 0
    assert model.correction.frames.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.generator.parameters())
    model.zero_grad(set_to_none=True)
    reconstruction_loss(out.forecast, clip[:, I:], "l1").backward()
    assert model.generator.out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in [*model.latent_map.parameters(), *model.correction.parameters()])


def test_sampling_per_mode():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3000, 2, 3, 3) + 5.0, torch.full((3000, 2, 3, 3), -2.0)
    assert torch.equal(sample_map(mu, logvar, "reconstruct"), mu)
    assert torch.equal(sample_map(mu, logvar, "predict"), mu)
    spread = (sample_map(mu, logvar, "train") - mu).std().item()
    assert abs(spread - torch.exp(torch.tensor(-1.0)).item()) < 0.01  # σ = exp(logvar / 2)


def test_map_kl_and_the_forecast_term_join_the_generator_loss_with_their_weights():
    torch.manual_seed(1)
    pred, forecast, target = torch.rand(2, 2, 3, 8, 8), torch.rand(2, 2, 3, 8, 8), torch.rand(2, 2, 3, 8, 8)
    mu, logvar = torch.randn(2, 4), torch.randn(2, 4)
    map_mu, map_logvar = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)
    logits = torch.randn(2, 1)
    cfg = LossConfig(lambda_recon=10.0, lambda_kl=0.1, lambda_kl_map=0.01, lambda_recon_prior=0.0,
                     lambda_gan=0.5, gan_start_step=0, gan_ramp_steps=0, recon_loss="l1",
                     q_controller_enabled=False)
    zeros = torch.zeros_like(mu)
    out = ModelOutput(pred, mu, logvar, None, zeros, zeros, None, map_mu, map_logvar, forecast)
    total, parts = generator_losses(out, target, cfg, 0, logits)
    kl_map = kl_divergence(map_mu, map_logvar, event_dims=3)[0]  # to N(0, I), summed over the cells
    assert torch.equal(parts["loss_g_kl_map"], kl_map)
    assert torch.equal(parts["loss_g_forecast"], reconstruction_loss(forecast, target, "l1"))
    expected = (10.0 * (parts["loss_g_recon"] + parts["loss_g_forecast"]) + 0.1 * parts["loss_g_kl"]
                + 0.01 * kl_map + 0.5 * parts["loss_g_adv"])
    assert torch.equal(total, expected)
    plain = ModelOutput(pred, mu, logvar, None, zeros, zeros, None)
    _, without = generator_losses(plain, target, cfg, 0, logits)
    assert without["loss_g_kl_map"] == 0 and without["loss_g_forecast"] == 0


def test_bad_map_settings_are_one_clear_error(capsys):
    with pytest.raises(SystemExit):
        make("--latent_map_channels", "-1")
    assert re.search("--latent_map_channels must be ≥ 0", capsys.readouterr().err)
