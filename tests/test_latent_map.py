"""The spatial latent: which frames its posterior and its prior read, what each mode uses, the map dropout,
its KL term and its configuration errors."""

import re

import pytest
import torch
from test_model import clip_and_flow, make, randomise_output_conv
from wubugaad.model.latent_map import sample_map
from wubugaad.model.losses import generator_losses, kl_divergence
from wubugaad.model.vaegan import MODES


def _map_model(*extra):
    model, _, args = make("--image_h", "32", "--image_w", "48", "--latent_map_channels", "3", *extra)
    randomise_output_conv(model)  # a head that reads its features, so the map shows in the output
    return model, args


def test_map_shapes_per_mode_and_the_prior_in_predict():
    model, args = _map_model()
    clip, _ = clip_and_flow(args)
    for mode in MODES:
        out = model(clip, mode=mode)
        assert out.map_mu.shape == out.map_logvar.shape == (2, 3, 8, 12)  # stride 4 of 32×48
        assert out.map_prior_mu.shape == out.map_prior_logvar.shape == (2, 3, 8, 12)
        if mode in ("predict", "generate"):
            assert torch.equal(out.map_mu, out.map_prior_mu)
            assert torch.equal(out.map_logvar, out.map_prior_logvar)
        else:
            assert not torch.equal(out.map_mu, out.map_prior_mu)
    plain, _, _ = make("--image_h", "32", "--image_w", "48", "--latent_map_channels", "0")
    out = plain(clip, mode="train")
    assert out.map_mu is None and plain.latent_map is None


def test_the_map_reads_the_targets_in_reconstruction_and_nothing_of_them_in_prediction():
    model, args = _map_model()
    with torch.no_grad():  # codes far from 0, so the map moves the output
        model.latent_map.head.weight.mul_(100.0)
        model.map_prior.head.weight.mul_(100.0)
    clip, _ = clip_and_flow(args)
    other, _ = clip_and_flow(args, seed=7)
    I = args.num_input_frames
    new_targets = torch.cat([clip[:, :I], other[:, I:]], dim=1)
    model.eval()
    with torch.no_grad():
        rec, rec_new = (model(c, mode="reconstruct").prediction for c in (clip, new_targets))
        pred, pred_new = (model(c, mode="predict").prediction for c in (clip, new_targets))
        mu, mu_new = (model(c, mode="reconstruct").map_mu for c in (clip, new_targets))
    assert (mu - mu_new).abs().max() > 1e-3 and (rec - rec_new).abs().max() > 1e-4
    assert torch.equal(pred, pred_new)
    # the prior reads the last two context frames: changing the one before the last moves the prediction
    other_before = clip.clone()
    other_before[:, I - 2] = other[:, I - 2]
    with torch.no_grad():
        assert (model(other_before, mode="predict").prediction - pred).abs().max() > 1e-4


def test_map_gradient_reaches_the_posterior():
    model, args = _map_model("--latent_map_dropout", "0")
    clip, _ = clip_and_flow(args)
    out = model(clip, mode="train")
    out.prediction.square().mean().backward()
    assert model.latent_map.head.weight.grad.abs().sum() > 0
    model.zero_grad()
    out = model(clip, mode="train")
    kl = kl_divergence(out.map_mu, out.map_logvar, out.map_prior_mu, out.map_prior_logvar)[0]
    kl.backward()
    assert model.map_prior.head.weight.grad.abs().sum() > 0  # the KL teaches the prior


def test_map_dropout_replaces_whole_samples_by_the_prior_mean():
    torch.manual_seed(0)
    mu = torch.randn(4000, 2, 3, 3) + 5.0
    logvar = torch.full_like(mu, -2.0)
    prior_mu = torch.full_like(mu, -7.0)
    z = sample_map(mu, logvar, "train", 0.25, prior_mu)
    dropped = (z == -7.0).flatten(1).all(dim=1)
    kept = (z != -7.0).flatten(1).all(dim=1)
    assert torch.equal(dropped | kept, torch.ones_like(dropped))  # whole samples, never parts
    assert abs(dropped.float().mean().item() - 0.25) < 0.03
    spread = (z[kept] - mu[kept]).std().item()
    assert abs(spread - torch.exp(torch.tensor(-1.0)).item()) < 0.01  # σ = exp(logvar / 2)
    assert torch.equal(sample_map(mu, logvar, "reconstruct", 0.25, prior_mu), mu)
    assert torch.equal(sample_map(mu, logvar, "predict", 0.25, prior_mu), mu)
    assert not (sample_map(mu, logvar, "generate", 0.25, prior_mu) == -7.0).flatten(1).all(dim=1).any()


def test_map_kl_joins_the_generator_loss_with_its_own_weight():
    torch.manual_seed(1)
    pred, target = torch.rand(2, 2, 3, 8, 8), torch.rand(2, 2, 3, 8, 8)
    mu, logvar = torch.randn(2, 4), torch.randn(2, 4)
    map_mu, map_logvar = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)
    prior_mu, prior_logvar = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)
    logits = torch.randn(2, 1)
    total, parts = generator_losses(pred, target, mu, logvar, logits, 10.0, 0.1, 0.5, recon_loss="l1",
                                    map_mu=map_mu, map_logvar=map_logvar, map_prior_mu=prior_mu,
                                    map_prior_logvar=prior_logvar, lambda_kl_map=0.01)
    kl_map = kl_divergence(map_mu, map_logvar, prior_mu, prior_logvar)[0]
    assert torch.equal(parts["loss_g_kl_map"], kl_map)
    expected = (10.0 * parts["loss_g_recon"] + 0.1 * parts["loss_g_kl"] + 0.01 * kl_map
                + 0.5 * parts["loss_g_adv"])
    assert torch.equal(total, expected)
    _, without = generator_losses(pred, target, mu, logvar, logits, 10.0, 0.1, 0.5, recon_loss="l1")
    assert without["loss_g_kl_map"] == 0


@pytest.mark.parametrize("flag, value, match", [
    ("--latent_map_channels", "-1", "--latent_map_channels must be ≥ 0"),
    ("--latent_map_dropout", "1", r"--latent_map_dropout must be in \[0, 1\)"),
])
def test_bad_map_settings_are_one_clear_error(flag, value, match, capsys):
    with pytest.raises(SystemExit):
        make(flag, value)
    assert re.search(match, capsys.readouterr().err)
