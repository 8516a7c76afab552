"""The spatial generator's per-frame latent with a learned prior (model/frame_latent.py): shapes in every
mode for the rollout and the joint pass, KL 0 when the posterior equals the prior, seeded sampling, predict
at the prior's mean, `--latent_dim 0`, a checkpoint round trip, and a tiny overfit on two possible futures."""

import pytest
import torch
from test_model import make, randomise_output_conv
from wubugaad.model.losses import LossConfig, generator_losses, kl_divergence
from wubugaad.model.vaegan import MODES
from wubugaad.train.checkpoint import build_payload, load_checkpoint, restore_model, save_checkpoint
from wubugaad.train.upgrade import upgrade

SMALL = ["--image_h", "16", "--image_w", "16", "--num_input_frames", "2", "--num_predict_frames", "2"]
GRID = ["--latent_layout", "grid"]
PASSES = {"rollout": [], "joint": ["--no_gen_rollout", "--gen_synthesis"], "rollout, grid": GRID,
          "joint, grid": ["--no_gen_rollout", "--gen_synthesis", *GRID]}


def _clip(args, B=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    T = args.num_input_frames + args.num_predict_frames
    return torch.rand(B, T, args.num_channels, args.image_h, args.image_w, generator=g) * 2 - 1


def _randomise_prior(model, seed=5):
    """A prior that says something (its output layer starts at zero)."""
    g = torch.Generator().manual_seed(seed)
    last = model.generator.frame_latent.prior[-1]
    with torch.no_grad():
        last.weight.copy_(torch.randn(last.weight.shape, generator=g) * 0.3)
        last.bias.copy_(torch.randn(last.bias.shape, generator=g) * 0.3)


@pytest.mark.parametrize("kind", PASSES)
def test_shapes_in_every_mode_and_the_prior_in_predict_and_generate(kind):
    model, _, args = make(*SMALL, *PASSES[kind])
    B, d = 2, model.noise_shape(1)[-1]
    assert d == args.latent_dim * (16 if "grid" in kind else 1)  # grid: d channels on the 4 × 4 cells
    P = 1 if kind == "joint, grid" else args.num_predict_frames  # codes: the joint grid pass has one
    clip = _clip(args)
    for mode in MODES:
        out = model(clip, mode=mode)
        for stat in (out.mu, out.logvar, out.prior_mu, out.prior_logvar):
            assert stat.shape == (B, P, d), mode
        if mode in ("predict", "generate"):  # no target seen: the statistics are the prior's
            assert torch.equal(out.mu, out.prior_mu) and torch.equal(out.logvar, out.prior_logvar)
    # the prior starts at N(0, I) exactly, the posterior near it
    train = model(clip, mode="train")
    assert not train.prior_mu.any() and not train.prior_logvar.any()
    assert train.mu.abs().max() < 0.5 and train.mu.abs().max() > 0
    with pytest.raises(ValueError, match=rf"z must be \(2, {P}, {d}\)"):
        model(clip, mode="generate", z=torch.zeros(B, d))


@pytest.mark.parametrize("kind", PASSES)
def test_kl_is_zero_when_the_posterior_equals_the_prior(kind):
    model, _, args = make(*SMALL, *PASSES[kind])
    last = model.generator.frame_latent.posterior[-1]
    torch.nn.init.zeros_(last.weight)  # the posterior's output layer at 0: q = N(0, I) = the prior at init
    out = model(_clip(args), mode="train")
    kl, _ = kl_divergence(out.mu, out.logvar, out.prior_mu, out.prior_logvar)
    assert kl == 0
    losses = LossConfig.from_args(args)
    assert generator_losses(out, _clip(args)[:, 2:], losses, 0)[1]["loss_g_kl"] == 0


@pytest.mark.parametrize("kind", PASSES)
def test_sampling_is_seeded_and_predict_is_generate_at_zero_noise(kind):
    model, _, args = make(*SMALL, *PASSES[kind], "--gen_synthesis")
    _randomise_prior(model)
    model.eval()
    context = _clip(args)[:, : args.num_input_frames]

    def sample(seed):
        torch.manual_seed(seed)
        return model(context, mode="generate").prediction

    assert torch.equal(sample(0), sample(0))
    assert (sample(0) - sample(1)).abs().max() > 1e-4
    predict = model(context, mode="predict")
    zero = torch.zeros(model.noise_shape(2))
    assert torch.equal(predict.prediction, model(context, mode="generate", z=zero).prediction)
    assert predict.mu.abs().max() > 0  # the learned prior's mean, not 0
    # a given ε is the noise of z_t = μ_p + σ_p·ε: generate with it is predict with it, and reproducible
    eps = torch.randn(model.noise_shape(2), generator=torch.Generator().manual_seed(3))
    fixed = model(context, mode="generate", z=eps).prediction
    assert torch.equal(fixed, model(context, mode="predict", z=eps).prediction)
    assert (fixed - predict.prediction).abs().max() > 1e-4


def test_latent_dim_zero_is_the_deterministic_model_and_trains_a_step():
    model, _, args = make(*SMALL, "--latent_dim", "0", "--gen_synthesis")
    assert model.generator.frame_latent is None and model.generator.body.z_tile is None
    clip = _clip(args)
    out = model(clip, mode="train")
    assert out.mu.shape == (2, args.num_predict_frames, 0) and out.prior_prediction is None
    loss, parts = generator_losses(out, clip[:, 2:], LossConfig.from_args(args), 0)
    assert parts["loss_g_kl"] == 0 and torch.isfinite(loss)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss.backward()
    opt.step()
    torch.manual_seed(0)
    generated = model(clip, mode="generate").prediction
    assert torch.equal(generated, model(clip, mode="predict").prediction)  # nothing to sample
    assert torch.equal(model(clip, mode="train").prediction, model(clip, mode="reconstruct").prediction)


def test_the_prior_mean_pass_rides_along_in_train_and_equals_predict():
    model, _, args = make(*SMALL, "--gen_synthesis", "--lambda_recon_prior", "1")
    _randomise_prior(model)
    clip = _clip(args)
    out = model(clip, mode="train")
    assert out.prediction.shape == out.prior_prediction.shape
    predict = model(clip, mode="predict").prediction
    assert torch.allclose(out.prior_prediction, predict, atol=1e-6)
    assert model(clip, mode="reconstruct").prior_prediction is None
    off, _, _ = make(*SMALL, "--lambda_recon_prior", "0")
    assert off(clip, mode="train").prior_prediction is None


def test_a_checkpoint_round_trip_keeps_the_prior(tmp_path):
    model, _, args = make(*SMALL, "--gen_synthesis")
    _randomise_prior(model)
    path = save_checkpoint(tmp_path / "ckpt.pt", build_payload(model, None, None, None, None, None, step=1,
                                                              epoch=0, best_metric=None, config_dict={}))
    fresh, _, _ = make(*SMALL, "--gen_synthesis", seed=9)
    assert restore_model(fresh, load_checkpoint(path)["model"], strict=True) == ([], [], [])
    context = _clip(args)[:, : args.num_input_frames]
    samples = []
    for m in (model, fresh):
        torch.manual_seed(4)
        samples.append(m(context, mode="generate").prediction)
    assert torch.equal(*samples)


def _two_futures(H=16):
    """One context (a square resting in the middle), two futures: it moves left or right 3 px a frame."""
    def frame(x):
        f = torch.full((1, H, H), -1.0)
        f[:, 6:10, x : x + 4] = 1.0
        return f
    context = [frame(6), frame(6)]
    return torch.stack([*context, frame(3), frame(0)]), torch.stack([*context, frame(9), frame(12)])


@pytest.mark.parametrize("layout", ["vector", "grid"])
def test_generated_samples_cover_both_futures_and_the_prior_mean_lies_between(layout):
    left, right = _two_futures()
    model, _, args = make(*SMALL, "--num_channels", "1", "--gen_synthesis", "--lambda_kl", "1",
                          "--latent_layout", layout)
    losses = LossConfig.from_args(args).replace(lambda_gan=0.0, recon_loss="mse")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = torch.stack([left, right] * 4)
    torch.manual_seed(0)
    for step in range(150):
        loss, parts = generator_losses(model(batch, mode="train"), batch[:, 2:], losses, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert parts["loss_g_recon"] < 0.02  # the posterior tells the two futures apart
    assert parts["loss_g_kl"] >= 1.0  # nats per frame
    model.eval()
    context = left[None, :2].expand(12, -1, -1, -1, -1)
    torch.manual_seed(1)
    with torch.no_grad():
        samples = model(context, mode="generate").prediction
        mean = model(context[:1], mode="predict").prediction[0]
    to_left = (samples - left[2:]).square().mean(dim=(1, 2, 3, 4))
    to_right = (samples - right[2:]).square().mean(dim=(1, 2, 3, 4))
    assert (to_left < to_right).any() and (to_right < to_left).any()  # each future is some sample's nearest
    apart = (left[2:] - right[2:]).square().mean()
    assert to_left.min() < 0.25 * apart and to_right.min() < 0.25 * apart
    # the prior's mean: nearer the average of the two futures than either future is
    middle = 0.5 * (left[2:] + right[2:])
    assert (mean - middle).square().mean() < (left[2:] - middle).square().mean()


def test_a_joint_pass_state_of_the_clip_level_layout_upgrades_and_predicts_the_same():
    """Checkpoints written before the per-frame latent (one clip-level z, its posterior head on the model)
    load through `upgrade`: the joint pass's condition and tile gain zero columns for the other frames'
    codes, the synthesis residual keeps one frame's map, the new heads join at their init; predict reads
    z = 0 in both layouts, so it is unchanged."""
    flags = [*SMALL, "--no_gen_rollout", "--gen_synthesis"]
    model, _, args = make(*flags)
    randomise_output_conv(model)
    d, P, I = args.latent_dim, args.num_predict_frames, args.num_input_frames
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("generator.frame_latent.")}
    for key in [k for k in old if k.endswith(".film.weight")] + ["generator.body.z_tile.weight"]:
        old[key] = torch.cat([old[key][:, :d], old[key][:, P * d:]], dim=1)  # [z ; h ; a]
    old["generator.latent_residual.weight"] = old["generator.latent_residual.weight"].repeat(P, 1)
    h_dim = model.encoder.output_dim
    old["posterior.weight"], old["posterior.bias"] = torch.randn(2 * d, h_dim), torch.zeros(2 * d)
    config = {"generator_type": "spatial", "gen_rollout": False, "num_predict_frames": P,
              "num_input_frames": I, "gen_flow_prior": "none"}
    fresh, _, _ = make(*flags, seed=7)
    upgraded = upgrade({"config": config, "model": old})["model"]
    assert restore_model(fresh, upgraded, strict=True) == ([], [], [])
    context = _clip(args)[:, :I]
    before = model(context, mode="predict").prediction
    assert (before - context[:, -1:]).abs().max() > 1e-3  # a head that does something
    assert torch.allclose(fresh(context, mode="predict").prediction, before, atol=1e-6)


def test_a_grid_code_moves_the_flow_only_around_its_own_cell():
    """The grid layout reads each cell's code where the cell lies: a code set in one corner cell offsets
    the flow in that corner's quarter of the frame and nowhere far from it; a zero code offsets nothing."""
    model, _, args = make(*SMALL, *GRID)
    latent = model.generator.frame_latent
    d, (h, w) = latent.d, latent.grid
    z = torch.zeros(1, 1, d, h, w)
    assert not latent.flow_offset(z.flatten(2), (16, 16)).any()
    z[0, 0, :, 0, 0] = 1.0  # the top-left cell of the 4 × 4 grid (pixels 0…3)
    offset = latent.flow_offset(z.flatten(2), (16, 16))[0, 0].abs().sum(0)  # (16, 16)
    assert offset[:4, :4].min() > 0
    assert not offset[8:].any() and not offset[:, 8:].any()  # bilinear reach: half a cell beyond its own


def test_a_config_saved_before_the_grid_latent_rebuilds_the_vector_code():
    from wubugaad.train.config import args_from_config
    from wubugaad.train.upgrade import upgrade_config

    config = upgrade_config({"generator_type": "spatial", "latent_dim": 8})
    assert config["latent_layout"] == "vector"
    assert args_from_config(config).latent_layout == "vector"
