"""G+D optimisation of the assembled VAE-GAN: finite losses, no dead parameters, G and D steps
that keep to their own weights, no host syncs, no Python loops over batch/frames/regions/pairs, and a
frozen RAFT estimator that a training step leaves bit-identical."""

import pytest
import torch
from _sync_guard import OpCounter, no_host_sync
from test_model import MOTION, RAFT_FLAGS, clip_and_flow, make, plant_raft_weights
from wubugaad.model.losses import LossConfig, discriminator_loss, generator_losses
from wubugaad.model.vaegan import aligned_clips
from wubugaad.optim.risgd import RiemannianEnhancedSGD

SMALL = ("--image_h", "32", "--image_w", "48")


def trainable(module):
    return {name: p for name, p in module.named_parameters() if p.requires_grad}


def optimizer(module, lr=1e-2):
    return RiemannianEnhancedSGD(trainable(module).values(), lr=lr, weight_decay=0.0)


def d_and_g_backward(model, disc, args, clip, flow):
    """One generator forward serving both steps, as the trainer does. Returns the two loss breakdowns,
    the names of G's parameters holding a gradient right after D's backward (must be none) and D's
    gradients at that point (G's backward must leave them as they are)."""
    out = model(clip, mode="train", flow=flow)
    real, fake = aligned_clips(clip, out.prediction, args.num_input_frames)
    cond = out.condition
    # D on real and detached fake, one call
    both_cond = None if cond is None else torch.cat([cond, cond])
    d_loss, d_parts = discriminator_loss(*disc(torch.cat([real, fake.detach()]), both_cond).chunk(2))
    d_loss.backward()
    g_touched = [n for n, p in trainable(model).items() if p.grad is not None]
    d_grads = {n: p.grad.clone() for n, p in trainable(disc).items() if p.grad is not None}
    # G through a frozen D
    disc.requires_grad_(False)
    fake_logits = disc(fake, cond)
    disc.requires_grad_(True)
    losses = LossConfig.from_args(args).replace(gan_start_step=0, gan_ramp_steps=0)  # D's term in full
    g_loss, g_parts = generator_losses(out, clip[:, args.num_input_frames:], losses, 0, fake_logits)
    g_loss.backward()
    return d_parts, g_parts, g_touched, d_grads


def snapshot(params):
    return {n: p.detach().clone() for n, p in params.items()}


# the zero-initialised residual output (and D's zero-initialised FiLM projection) may hold these at zero
# gradient for the very first step only; in the spatial generator everything before its zero-initialised
# output conv sits under `generator.body.`, and the spatial latent's posterior and correction wait for the
# correction's zero-initialised last conv. The spatial generator's encoder reaches the loss through that
# output conv and through the per-frame latent, whose prior's output layer starts at zero and whose KL has
# a gradient of ~1e-13 at init (the posterior starts at the prior): from the second step on it is alive
FIRST_STEP_ZERO_OK = ("generator.stem.", "generator.stem_norm.", "generator.blocks.", "film.embed.",
                      "generator.body.", "latent_map.", "correction.frames.", "correction.code.",
                      "correction.mid.", "encoder.", "generator.frame_latent.")
# the per-frame prior's hidden layer sits behind its zero-initialised output layer, which the first step
# moves by ~1e-10 with SGD (the init KL's gradient): alive from the third step on
SECOND_STEP_ZERO_OK = ("generator.frame_latent.prior.0.",)
# float64 run: a gradient that is zero in exact arithmetic (e.g. a bias cancelled by the norm after it)
# shows up as ~1e-17 rounding noise, far below this; real gradients here are ≥ 1e-7
DEAD = 1e-12


@pytest.mark.parametrize("flags", [
    [*MOTION, "--prior", "learned", "--disc_use_gaad_film_condition"],
    [*MOTION, "--discriminator_type", "regional_cnn", "--disc_use_gaad_film_condition",
     "--gaad_decomposition_type", "motion_adaptive", "--gaad_motion_decomposition_type", "motion_adaptive"],
    ["--num_input_frames", "0", "--discriminator_type", "regional_cnn", "--encoder_use_roi_align"],
])
def test_gd_steps_finite_no_dead_parameters_and_separated(flags):
    model, disc, args = make(*SMALL, *flags)
    model.double().train()
    disc.double().train()
    g_params, d_params = trainable(model), trainable(disc)
    opt_g, opt_d = optimizer(model), optimizer(disc)
    clip, flow = clip_and_flow(args)
    clip, flow = clip.double(), flow.double() if model.reads_flow else None
    alive = set()
    for step in range(3):
        opt_g.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)
        d_parts, g_parts, g_touched, d_grads = d_and_g_backward(model, disc, args, clip, flow)
        assert all(torch.isfinite(v) for v in (*d_parts.values(), *g_parts.values())), (d_parts, g_parts)
        # D's loss put nothing into G, G's loss nothing into D
        assert g_touched == [] and d_grads.keys() == d_params.keys()
        assert all(torch.equal(d_params[n].grad, g) for n, g in d_grads.items())
        for name, p in {**g_params, **d_params}.items():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            if p.grad.abs().max() > DEAD:
                alive.add(name)
                continue
            allowed = (FIRST_STEP_ZERO_OK + SECOND_STEP_ZERO_OK, SECOND_STEP_ZERO_OK, ())[min(step, 2)]
            if not any(k in name for k in allowed):
                pytest.fail(f"step {step + 1}: zero gradient for {name}")
        before_g = snapshot(g_params)
        opt_d.step()
        assert all(torch.equal(p, before_g[n]) for n, p in g_params.items())
        before_d = snapshot(d_params)
        opt_g.step()
        assert all(torch.equal(p, before_d[n]) for n, p in d_params.items())
    assert alive == g_params.keys() | d_params.keys()
    if args.use_wubu_motion_branch:
        assert any(n.startswith("encoder.motion.") for n in alive) and "encoder.motion.no_motion" in alive
    if model.learned_prior:
        assert {"prior_head.weight", "prior_head.bias"} <= alive


@pytest.mark.parametrize("flags", [
    [*MOTION, "--prior", "learned", "--disc_use_gaad_film_condition"],
    [*MOTION, "--discriminator_type", "regional_cnn", "--disc_use_gaad_film_condition",
     "--encoder_use_roi_align", "--gaad_decomposition_type", "motion_adaptive",
     "--gaad_motion_decomposition_type", "motion_adaptive",
     "--wubu_s_use_rotation", "--wubu_m_use_rotation", "--wubu_t_use_rotation"],
])
def test_full_gd_step_has_no_host_sync(flags):
    model, disc, args = make(*SMALL, *flags)
    clip, flow = clip_and_flow(args)
    opt_g, opt_d = optimizer(model), optimizer(disc)
    with no_host_sync():
        d_parts, g_parts, _, _ = d_and_g_backward(model, disc, args, clip, flow)
        opt_d.step()
        opt_g.step()
    assert torch.isfinite(g_parts["loss_g_total"]) and torch.isfinite(d_parts["loss_d_total"])


def count_step_ops(flags, B: int, num_input: int, regions: int) -> int:
    model, disc, args = make(*SMALL, *MOTION, "--disc_use_gaad_film_condition", *flags, "--num_input_frames",
                             str(num_input), "--gaad_num_regions", str(regions), "--gaad_motion_num_regions",
                             str(regions))
    clip, flow = clip_and_flow(args, B)
    d_and_g_backward(model, disc, args, clip, flow)  # warm-up: first-call caches create tensors once
    with OpCounter() as counter:
        d_and_g_backward(model, disc, args, clip, flow)
    return counter.count


@pytest.mark.parametrize("flags", [
    ["--encoder_use_roi_align", "--wubu_s_use_rotation", "--wubu_m_use_rotation", "--wubu_t_use_rotation"],
    ["--discriminator_type", "regional_cnn", "--gaad_decomposition_type", "motion_adaptive",
     "--gaad_motion_decomposition_type", "motion_adaptive", "--prior", "learned"],
])
def test_step_op_count_is_independent_of_batch_frames_pairs_and_regions(flags):
    # a Python loop over batch items, frames, flow pairs or regions would add ops per extra item
    # (B ≥ 2 on both sides: with B = 1 some reshapes are views that are copies otherwise; likewise ≥ 2
    # context pairs, as the spatial generator's encoder reads the context frames only: one pair is a view)
    base = count_step_ops(flags, B=2, num_input=3, regions=3)
    assert count_step_ops(flags, B=3, num_input=4, regions=6) == base


def test_frozen_raft_is_bit_identical_after_a_training_step(tmp_path, monkeypatch):
    planted = plant_raft_weights(tmp_path, monkeypatch)
    model, disc, args = make(*RAFT_FLAGS, "--freeze_flow_net", pretrained_flow=True)
    model.train()
    assert not any(m.training for m in model.flow_estimator.modules())
    g_params = trainable(model)
    assert not any(n.startswith("flow_estimator.") for n in g_params)
    opt_g = optimizer(model)
    clip, _ = clip_and_flow(args, B=1)
    d_and_g_backward(model, disc, args, clip, None)  # flow from the estimator
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in g_params.items()
               if n.startswith("encoder.motion."))  # the motion encoder trains behind the frozen estimator
    before = snapshot(g_params)
    opt_g.step()
    assert any(not torch.equal(p, before[n]) for n, p in g_params.items())
    net_state = model.flow_estimator.net.state_dict()
    assert all(torch.equal(net_state[k], planted[k]) for k in planted)
    assert not any(m.training for m in model.flow_estimator.modules())
    kept = [k for k in model.state_dict() if not k.startswith(model.excluded_state_prefixes)]
    assert kept and not any(k.startswith("flow_estimator.") for k in kept)
