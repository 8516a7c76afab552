"""The flow prior's fallback: where the loader's classical flow is wrong, a short training of the
default model learns not to trust it and ends near copy-last, while it keeps using the flow where it is
right; and the default configuration's starting points (copy-last, and with the gate open the flow
extrapolation that validation scores)."""

import numpy as np
import torch
from test_model_learning import train_step
from wubugaad.model.spatial import FLOW_PRIOR_GATE_GAIN
from wubugaad.model.vaegan import build
from wubugaad.train import metrics
from wubugaad.train.config import parse_args
from wubugaad.train.session import _optimizers

SIDE, PAN, SPURIOUS_PX, STEPS = 24, 2, 5.0, 90
LOGO = slice(SIDE // 3, 2 * SIDE // 3)  # the static overlay: rows and columns 8 … 15
INNER = slice(LOGO.start + 2, LOGO.stop - 2)  # its interior, beyond the bilinear reach of the pan at its edge


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], kmax: int) -> np.ndarray:
    """Periodic band-limited noise (frequencies ≤ kmax per axis) scaled to max |·| = 0.9: smooth enough
    that a one-pixel shift is a small, well-predicted change (bilinear warping's gradient at zero flow is a
    one-sided difference, which on pixel noise says nothing about the direction), and periodic so that
    `np.roll` pans it without a seam."""
    k = np.abs(np.fft.fftfreq(shape[-1]) * shape[-1])
    keep = (k[:, None] <= kmax) & (k[None, :] <= kmax)
    field = np.fft.ifft2(np.fft.fft2(rng.normal(size=shape)) * keep).real
    return 0.9 * field / np.abs(field).max(axis=(-2, -1), keepdims=True)


def panned_clip_with_static_logo(args, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """`(clip, flow, wrong)`: a textured scene panning by PAN pixels a frame (the camera moves) under a
    static textured overlay (a logo, a subtitle box) in the middle ninth of the frame. The loader's flow is
    right on the pan and wrong on the overlay, as classical flow goes wrong there: a spurious smooth field
    of up to SPURIOUS_PX pixels where nothing moves. `wrong` `(H, W)` marks the overlay's interior."""
    rng = np.random.default_rng(seed)
    T = args.num_input_frames + args.num_predict_frames
    scene = _smooth(rng, (batch, 3, SIDE, SIDE), 3)
    logo = _smooth(rng, (batch, 3, SIDE, SIDE), 2)[..., LOGO, LOGO]
    frames = np.stack([np.roll(scene, t * PAN, axis=-1) for t in range(T)], axis=1)  # (B, T, 3, H, W)
    frames[..., LOGO, LOGO] = logo[:, None]
    flow = np.zeros((batch, T - 1, 2, SIDE, SIDE))
    flow[:, :, 0] = PAN  # the motion into each frame: the pan, right, everywhere ...
    spurious = _smooth(rng, (batch, T - 1, 2, SIDE, SIDE), 2) * (SPURIOUS_PX / 0.9)
    flow[..., LOGO, LOGO] = spurious[..., LOGO, LOGO]  # ... but on the overlay
    wrong = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    wrong[INNER, INNER] = True
    return torch.from_numpy(frames).float(), torch.from_numpy(flow).float(), wrong


def _prediction_and_confidence(model, clip, flow) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's prediction (`mode="predict"`, what validation scores) and its confidence `1 + tanh(u)`
    `(B, H, W)` in the first predicted frame, read from the head conv's output."""
    gen, captured = model.generator, {}
    hook = gen.out.register_forward_hook(lambda _module, _inputs, out: captured.setdefault("head", out))
    try:
        with torch.no_grad():
            pred = model(clip, mode="predict", flow=flow).prediction
    finally:
        hook.remove()
    head = captured["head"]
    head = head.view(head.shape[0], -1, gen.per_frame, *head.shape[-2:])  # (B, F, K, H, W)
    at = 2 + (1 if gen.use_extrapolate else 0)  # after the flow (2) and the extrapolation weight
    return pred, 1.0 + torch.tanh(head[:, 0, at])


def _mse(pred: torch.Tensor, target: torch.Tensor, where: torch.Tensor) -> float:
    return (pred - target).square()[..., where].mean().item()


def test_confidence_learns_to_fall_back_to_copy_last_where_the_loader_flow_is_wrong():
    """90 optimizer steps of the trainer's step (real default model, losses and optimizers, 24×24) on
    the panned clip with a static logo whose loader flow is spurious (`panned_clip_with_static_logo`).

    Where the flow is wrong, copy-last is exact and the flow extrapolation is not: the trained prediction
    must end far nearer copy-last, its MSE there at most 0.5 % of the extrapolation's (merely "nearer"
    would be 50 %), while on the pan it must beat copy-last (it uses the flow there: the gate did not
    simply stay shut). The mechanism: the gate opened, and the per-pixel confidence fell on the logo and
    rose on the pan. Measured on the logo (MSE as a fraction of the extrapolation's, seeds 0 / 1 / 2):
    0.07 / 0.18 / 0.42 % as it stands; with the generator's head frozen (confidence stuck at 1) the open
    gate carries the spurious flow onto the logo, ~99 %, and the error and confidence checks fail; without
    the confidence channel the head's own flow cancels much of the spurious flow but not enough,
    0.95 / 3.9 / 2.6 %, and the error check fails as well as the confidence one.
    """
    torch.set_num_threads(1)
    args = parse_args(["--image_h", str(SIDE), "--image_w", str(SIDE)])
    assert args.gen_flow_prior != "none" and args.gen_flow_confidence  # the defaults under test
    I, P = args.num_input_frames, args.num_predict_frames
    clip, flow, wrong = panned_clip_with_static_logo(args)
    target = clip[:, I:]
    copy_last = metrics.copy_last_baseline(clip[:, I - 1], target)
    extrapolated = metrics.flow_extrapolation_baseline(clip[:, I - 1], flow[:, I - 2], P)
    right = torch.zeros_like(wrong)
    right[:, : LOGO.start - 2], right[:, LOGO.stop + 2 :] = True, True  # the pan, clear of the logo
    copy_wrong, flow_wrong = _mse(copy_last, target, wrong), _mse(extrapolated, target, wrong)
    assert copy_wrong == 0.0 and flow_wrong > 0.01  # the scene is what it says: the logo is static
    assert _mse(extrapolated, target, right) < 0.2 * _mse(copy_last, target, right)  # the pan's flow is right

    torch.manual_seed(0)
    model, disc = build(args, pretrained_flow=False)
    opt_g, opt_d = _optimizers(args, model, disc)
    model.train()
    disc.train()
    for step in range(STEPS):
        train_step(model, disc, opt_g, opt_d, args, clip, flow, step)
    model.eval()
    pred, confidence = _prediction_and_confidence(model, clip, flow)
    model_wrong, model_right = _mse(pred, target, wrong), _mse(pred, target, right)
    copy_right, flow_right = _mse(copy_last, target, right), _mse(extrapolated, target, right)
    gate = FLOW_PRIOR_GATE_GAIN * model.generator.flow_prior_gate.detach()
    report = (f"MSE on the logo: model {model_wrong:.5f}, copy-last {copy_wrong:.5f}, flow extrapolation "
              f"{flow_wrong:.5f}; on the pan: model {model_right:.5f}, copy-last {copy_right:.5f}, flow "
              f"extrapolation {flow_right:.5f}; gate {gate.tolist()}; confidence on the logo "
              f"{confidence[:, wrong].mean():.3f}, on the pan {confidence[:, right].mean():.3f}")
    assert abs(model_wrong - copy_wrong) <= 0.005 * abs(flow_wrong - copy_wrong), report
    assert model_right <= 0.5 * copy_right, report
    assert (gate >= 0.1).all(), report
    assert confidence[:, wrong].mean() <= 0.5 and confidence[:, right].mean() >= 1.2, report


def default_model_on_the_panned_clip() -> tuple:
    """`(model, args, clip, flow)`: the default model at init (eval mode, seed 0) at SIDE × SIDE and the
    panned clip with its loader flow."""
    args = parse_args(["--image_h", str(SIDE), "--image_w", str(SIDE)])
    clip, flow, _ = panned_clip_with_static_logo(args)
    torch.manual_seed(0)
    model, _ = build(args, pretrained_flow=False)
    return model.eval(), args, clip, flow


def test_default_configuration_starts_as_copy_last_and_its_open_gate_is_the_flow_extrapolation():
    """At init the default model (flow prior, confidence, extrapolation channel, rollout, per-frame latent)
    predicts the last context frame bit for bit in both deterministic modes; with the gate opened to 1,
    the copy blend shut and the head otherwise silent it predicts validation's flow extrapolation
    (`val/flow_extrap_*`) of the bounded flow (one predicted frame, the default; the rollout's later
    frames: test_spatial.py). The two baselines the learned gain is measured against are where training
    starts."""
    model, args, clip, flow = default_model_on_the_panned_clip()
    I, P = args.num_input_frames, args.num_predict_frames
    gen = model.generator
    assert gen.use_flow_prior and gen.use_confidence and gen.use_extrapolate and gen.rollout
    assert gen.frame_latent is not None and model.latent_map is None
    last = metrics.copy_last_baseline(clip[:, I - 1], clip[:, I:])
    with torch.no_grad():
        for mode in ("predict", "reconstruct"):
            assert torch.equal(model(clip, mode=mode, flow=flow).prediction, last), mode
        gen.flow_prior_gate.fill_(1 / FLOW_PRIOR_GATE_GAIN)
        gen.out.bias.view(P, gen.per_frame)[:, gen.at_b] = -60.0  # the copy blend shut (½ at init)
        pred = model(clip, mode="predict", flow=flow).prediction
    bound = gen.max_flow
    bounded = bound * torch.tanh(flow[:, I - 2] / bound)  # the generator's flow bound, ±16 px by default
    expected = metrics.flow_extrapolation_baseline(clip[:, I - 1], bounded, P)
    torch.testing.assert_close(pred, expected, atol=1e-5, rtol=0)
