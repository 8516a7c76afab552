"""The spatial generator and its parts: exact warping, box masks and painting, the copy-last start,
shapes over frame sizes / motion / GAAD types / ablation switches, and the prediction's tie to space."""

import pytest
import torch
from _sync_guard import no_host_sync
from test_model import MOTION, clip_and_flow, make, randomise_output_conv
from wubugaad.gaad.boxes import box_masks, cached_box_masks, cached_boxes
from wubugaad.gaad.regions import paint
from wubugaad.geometry.warp import warp
from wubugaad.model.losses import LossConfig, generator_losses
from wubugaad.model.spatial import FLOW_PRIOR_GATE_GAIN
from wubugaad.model.vaegan import MODES


# ---------------------------------------------------------------- warp
@pytest.mark.parametrize("H, W", [(32, 48), (17, 23), (64, 64)])
def test_warp_is_exact_at_zero_flow_and_shifts_by_integer_flow(H, W):
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(3, 2, H, W, generator=g) * 2 - 1
    assert torch.equal(warp(frames, torch.zeros(3, 2, H, W)), frames)
    flow = torch.zeros(3, 2, H, W)
    flow[:, 0] = 2.0  # sample two pixels to the right: out[y, x] = frames[y, x + 2]
    flow[:, 1] = -1.0  # and one up: out[y, x] = frames[y − 1, x + 2]
    out = warp(frames, flow)
    assert torch.allclose(out[:, :, 1:, : W - 2], frames[:, :, : H - 1, 2:], atol=1e-5)


def test_warp_passes_gradient_to_the_flow():
    frames = torch.linspace(-1, 1, 16).view(1, 1, 1, 16).expand(1, 1, 8, 16).contiguous()
    flow = torch.zeros(1, 2, 8, 16, requires_grad=True)
    warp(frames, flow).sum().backward()
    assert flow.grad[0, 0, :, 1:-1].abs().min() > 0  # a ramp in x: every inner pixel feels flow_x


def test_warp_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="warp needs frames"):
        warp(torch.zeros(2, 3, 8, 8), torch.zeros(2, 2, 8, 9))


# ---------------------------------------------------------------- box masks and paint
def _reference_masks(boxes, W, H, w, h, samples=64):
    """Covered fractions by dense point sampling of every cell (slow, loops: for the test only)."""
    out = torch.zeros(boxes.shape[0], h, w, dtype=torch.float64)
    for n, (x1, y1, x2, y2) in enumerate(boxes.double().tolist()):
        for i in range(h):
            for j in range(w):
                ys = (i + (torch.arange(samples, dtype=torch.float64) + 0.5) / samples) * H / h
                xs = (j + (torch.arange(samples, dtype=torch.float64) + 0.5) / samples) * W / w
                inside = ((ys >= y1) & (ys < y2))[:, None] & ((xs >= x1) & (xs < x2))[None, :]
                out[n, i, j] = inside.double().mean()
    return out


@pytest.mark.parametrize("kind", ["subdivide", "spiral", "hybrid"])
def test_box_masks_are_covered_fractions_and_cached(kind):
    W, H, w, h = 48, 32, 6, 4
    boxes = cached_boxes(W, H, 6, kind, 4)
    masks = box_masks(boxes, W, H, w, h)
    assert masks.shape == (6, h, w)
    assert torch.allclose(masks.double(), _reference_masks(boxes, W, H, w, h), atol=0.03)
    cached = cached_box_masks(W, H, 6, kind, 4, w, h)
    assert torch.equal(cached, masks) and cached is cached_box_masks(W, H, 6, kind, 4, w, h)
    # per-sample boxes give per-sample masks in the same batched call
    both = box_masks(torch.stack([boxes, boxes.flip(0)]), W, H, w, h)
    assert torch.equal(both[0], masks) and torch.equal(both[1], masks.flip(0))


def test_paint_averages_tokens_over_covering_boxes():
    # two boxes on a 2x4 grid of a 40x20 frame: the left half, and the middle two columns
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [10.0, 0.0, 30.0, 20.0]])
    masks = box_masks(boxes, 40, 20, 4, 2)
    tokens = torch.tensor([[[1.0, 10.0], [3.0, 30.0]]])  # (B=1, N=2, D=2)
    out = paint(tokens, masks)  # (1, 2, 2, 4)
    assert out.shape == (1, 2, 2, 4)
    expected_row = torch.tensor([1.0, 2.0, 3.0, 0.0])  # only box 0, both, only box 1, none
    assert torch.allclose(out[0, 0], expected_row.expand(2, 4))
    assert torch.allclose(out[0, 1], 10 * expected_row.expand(2, 4))
    per_sample = paint(tokens.expand(3, 2, 2), masks.expand(3, 2, 2, 4))
    assert torch.allclose(per_sample, out.expand(3, 2, 2, 4))
    with pytest.raises(ValueError, match="paint needs"):
        paint(tokens, masks[:1])


# ---------------------------------------------------------------- the copy-last start and shapes
CASES = [  # (H, W, flags)
    (32, 32, []),
    (32, 48, [*MOTION]),
    (48, 32, [*MOTION, "--gaad_decomposition_type", "motion_adaptive", "--num_input_frames", "3"]),
    (30, 46, ["--gaad_decomposition_type", "spiral", "--num_predict_frames", "3"]),
    (64, 112, ["--gaad_decomposition_type", "subdivide", "--prior", "learned"]),
    (32, 32, ["--no_gen_use_warp", "--no_gen_use_gaad_paint", *MOTION]),
    (32, 32, [*MOTION, "--num_input_frames", "1"]),
    (32, 48, [*MOTION, "--num_predict_frames", "3", "--no_gen_rollout"]),
    (32, 32, ["--no_gen_use_warp", "--num_predict_frames", "3"]),
    (32, 32, ["--gen_flow_prior", "dis", "--gen_extrapolate", "--num_predict_frames", "3"]),
    (32, 48, ["--gen_flow_prior", "farneback", "--gen_extrapolate", "--no_gen_rollout",
              "--latent_map_channels", "2", "--gen_synthesis", "--gen_mask_init_logit", "0"]),
    (32, 32, ["--gen_synthesis", "--num_predict_frames", "3"]),
    (17, 23, [*MOTION, "--gen_flow_prior", "dis", "--gen_extrapolate"]),
    (32, 32, ["--gen_flow_confidence", "--gen_extrapolate", "--gen_synthesis", "--num_predict_frames", "2"]),
    (17, 23, ["--latent_layout", "grid", "--gen_synthesis", "--no_gen_rollout", "--num_predict_frames", "3"]),
    (17, 23, ["--gen_change_persistence", "--num_input_frames", "3", "--num_predict_frames", "2"]),
    (17, 23, ["--gen_copy_blend", "--gen_flow_confidence", "--gen_extrapolate", "--num_predict_frames", "3"]),
    (32, 32, ["--gen_copy_blend", "--no_gen_rollout", "--gen_synthesis", "--num_predict_frames", "2"]),
]


@pytest.mark.parametrize("H, W, flags", CASES)
def test_spatial_output_starts_as_the_last_context_frame(H, W, flags):
    model, _, args = make("--generator_type", "spatial", "--image_h", str(H), "--image_w", str(W), *flags)
    assert model.spatial
    I, P, C = args.num_input_frames, args.num_predict_frames, args.num_channels
    clip, flow = clip_and_flow(args)
    flow = flow if model.reads_flow else None
    last = clip[:, I - 1 : I].expand(-1, P, -1, -1, -1)
    for mode in MODES:
        out = model(clip, mode=mode, flow=flow)
        assert out.prediction.shape == (2, P, C, H, W) and torch.isfinite(out.prediction).all()
    pred = model(clip, mode="predict", flow=flow).prediction
    assert (pred - last).abs().max() <= 1e-6
    z = torch.randn(model.noise_shape(2))  # ε of the per-frame codes: z_t = μ + σ·ε
    if model.generator.use_synthesis:  # z's own blended correction moves the output from the first step
        assert (model(clip, mode="reconstruct", flow=flow, z=z).prediction - last).abs().max() > 1e-6
    else:  # a pure warp: z steers the decoder, which the zero head hides until it has learned
        assert (model(clip, mode="reconstruct", flow=flow, z=z).prediction - last).abs().max() == 0
        randomise_output_conv(model)
        moved = model(clip, mode="reconstruct", flow=flow, z=z).prediction
        assert (moved - model(clip, mode="reconstruct", flow=flow, z=torch.zeros_like(z)).prediction
                ).abs().max() > 1e-6


@pytest.mark.parametrize("flags", [
    [*MOTION, "--gaad_decomposition_type", "motion_adaptive"],
    ["--gen_flow_prior", "dis", "--latent_map_channels", "2", "--gen_extrapolate"],  # the new paths
    ["--gen_flow_confidence"],
    ["--no_gen_rollout", "--gen_synthesis"],  # the joint pass's per-frame codes
    ["--latent_layout", "grid"],  # the grid code: per frame in the rollout
    ["--no_gen_rollout", "--gen_synthesis", "--latent_layout", "grid"],  # one for the joint pass
    ["--gen_change_persistence", "--num_input_frames", "3"],  # the persistence of the change
    ["--gen_copy_blend"],  # the copy blend
])
def test_spatial_step_has_no_host_sync(flags):
    model, _, args = make("--image_h", "32", "--image_w", "48", *flags)
    clip, flow = clip_and_flow(args)
    with no_host_sync():
        out = model(clip, mode="train", flow=flow)
        # the whole objective, the per-frame latent's KL and the spatial latent's forecast term included
        loss, _ = generator_losses(out, clip[:, args.num_input_frames:], LossConfig.from_args(args), step=0)
        loss.backward()


@pytest.mark.parametrize("rollout", [True, False])
def test_mask_init_logit_sets_every_frames_blend_start(rollout):
    flags = ["--num_predict_frames", "3"] + ([] if rollout else ["--no_gen_rollout"])
    gen = make("--image_h", "32", "--image_w", "32", "--gen_synthesis", "--gen_mask_init_logit", "0.5",
               *flags)[0].generator
    per_frame = gen.out.bias.detach().view(-1, gen.per_frame)  # (frames of a pass, K)
    assert per_frame.shape[0] == (1 if rollout else 3)
    assert torch.equal(per_frame[:, -gen.C - 1], torch.full((per_frame.shape[0],), 0.5))
    assert not per_frame[:, : -gen.C - 1].any() and not per_frame[:, -gen.C :].any()
    with pytest.raises(SystemExit):
        make("--gen_mask_init_logit", "inf")


def test_spatial_generator_needs_context():
    with pytest.raises(SystemExit):
        make("--generator_type", "spatial", "--num_input_frames", "0")


# ---------------------------------------------------------------- the rollout
def test_each_rolled_out_frame_is_predicted_from_the_window_slid_over_the_previous_prediction():
    """Frame p + 1 of the rollout is what the generator predicts as frame 1 when its context is the
    window slid by one over frame p (same z and region tokens): the rollout feeds its own predictions back,
    and its gradient reaches the first frame's head through them."""
    model, _, args = make("--num_predict_frames", "3", "--num_input_frames", "3")
    randomise_output_conv(model)
    gen = model.generator
    assert gen.rollout and gen.out.out_channels == gen.per_frame
    g = torch.Generator().manual_seed(2)
    B, I, C, H, W = 2, args.num_input_frames, args.num_channels, args.image_h, args.image_w
    frames = torch.rand(B, I, C, H, W, generator=g) * 2 - 1
    context = torch.randn(B, model.encoder.output_dim, generator=g)
    appearance = torch.randn(B, model.encoder.appearance_dim, generator=g)
    # ε = 0: z_t is the prior's mean, 0 at init for every window, so z's own correction is 0 for every frame
    z = torch.zeros(B, args.num_predict_frames, args.latent_dim)
    tokens = torch.randn(B, args.gaad_num_regions, gen.body.paint_proj.in_features, generator=g)
    boxes = gen.body.masks.new_zeros(args.gaad_num_regions, 4)
    boxes[:, 2], boxes[:, 3] = W, H
    out = gen(z, context, appearance, frames, tokens, boxes, None)[0]  # (B, 3, C, H, W)
    window = frames
    for p in range(1, 3):
        window = torch.cat([window[:, 1:], out[:, p - 1 : p]], dim=1)
        assert torch.allclose(gen(z, context, appearance, window, tokens, boxes, None)[0][:, 0], out[:, p],
                              atol=1e-5)
    gen.out.weight.grad = None
    out[:, 2].sum().backward()
    assert gen.out.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- tied to space
def _scene(H, W, x0, y0, size=6):
    """A grey frame with one bright square at (x0, y0), as a clip frame (C, H, W) in [-1, 1]."""
    frame = torch.full((3, H, W), -0.5)
    frame[:, y0 : y0 + size, x0 : x0 + size] = 0.9
    return frame


def _response(model, clip, z):
    """The generator's own change to the last context frame, |x̂ − x_last| summed over channels: (H, W)."""
    with torch.no_grad():
        pred = model(clip, mode="predict", z=z).prediction
    return pred, pred - clip[:, model.num_input - 1 :]


@pytest.mark.parametrize("generator_type, tied", [("spatial", True), ("global", False)])
def test_moving_an_object_in_the_last_context_frame_moves_the_prediction_there(generator_type, tied):
    H = W = 48
    model, _, args = make("--image_h", str(H), "--image_w", str(W), "--num_predict_frames", "1",
                          "--generator_type", generator_type)
    # a generator that does something: a random head (seed 1; with seed 3 the random flows of the body
    # drawn since the per-frame latent joined the model carry the object only 0.53 of the way)
    torch.manual_seed(1)
    torch.nn.init.normal_(model.generator.out.weight, std=0.05)
    model.eval()
    I = args.num_input_frames
    base = torch.stack([_scene(H, W, 8, 8)] * I).unsqueeze(0)  # (1, I, C, H, W): object resting at (8, 8)
    moved = base.clone()
    moved[0, I - 1] = _scene(H, W, 32, 30)  # in the last context frame only it sits at (32, 30)
    z = torch.zeros(model.noise_shape(1))
    pred_b, own_b = _response(model, base, z)
    pred_m, own_m = _response(model, moved, z)
    near = torch.zeros(H, W, dtype=torch.bool)
    for x0, y0 in ((8, 8), (32, 30)):  # where the object left and where it now is, with a margin
        near[max(y0 - 6, 0) : y0 + 12, max(x0 - 6, 0) : x0 + 12] = True
    # the prediction shows the object where the last context frame has it
    assert (pred_m - pred_b)[0, 0, :, 30:36, 32:38].abs().mean() > 0.5 * 1.4
    # and what the generator itself adds to the last frame changes there, not all over the frame: the
    # "near" windows are 28 % of the frame; a generator that sees the context only through global codes
    # (the global one) spreads its change evenly
    change = (own_m - own_b).abs().sum(dim=(0, 1, 2))  # (H, W)
    assert change.sum() > 0.1
    assert (change[near].sum() > 0.6 * change.sum()) == tied


# ---------------------------------------------------------------- the flow prior, the extrapolation channel
def _uniform_flow(args, dx: float, dy: float) -> torch.Tensor:
    T = args.num_input_frames + args.num_predict_frames
    flow = torch.zeros(2, T - 1, 2, args.image_h, args.image_w)
    flow[:, :, 0], flow[:, :, 1] = dx, dy
    return flow


def _bounded(model, flow: torch.Tensor) -> torch.Tensor:
    bound = model.generator.max_flow
    return bound * torch.tanh(flow / bound)


@pytest.mark.parametrize("rollout", [True, False])
def test_open_flow_prior_gate_warps_along_the_last_flow_at_constant_velocity(rollout):
    """With the gate open (g = 1) and the head silent, frame p is the last context frame carried p steps
    further along the last context flow: the rollout warps each prediction again, the joint pass warps the
    last frame by (p + 1) times the flow."""
    model, _, args = make("--image_h", "32", "--image_w", "32", "--num_predict_frames", "2",
                          "--gen_flow_prior", "dis", "--no_gen_copy_blend",
                          *([] if rollout else ["--no_gen_rollout"]))
    gen = model.generator
    assert gen.use_flow_prior and torch.equal(gen.flow_prior_gate, torch.zeros_like(gen.flow_prior_gate))
    with torch.no_grad():
        gen.flow_prior_gate.fill_(1 / FLOW_PRIOR_GATE_GAIN)
    clip, _ = clip_and_flow(args)
    flow = _uniform_flow(args, 1.5, -0.5)
    pred = model(clip, mode="predict", flow=flow).prediction
    last, step = clip[:, args.num_input_frames - 1], -flow[:, 0]
    first = warp(last, _bounded(model, step))
    # the rollout's next prior is the first frame's own (bounded) flow
    second = (warp(first, _bounded(model, _bounded(model, step))) if rollout
              else warp(last, _bounded(model, 2 * step)))
    assert torch.allclose(pred[:, 0], first, atol=1e-5) and torch.allclose(pred[:, 1], second, atol=1e-5)


@pytest.mark.parametrize("rollout", [True, False])
def test_prior_confidence_scales_the_classical_flow_per_pixel(rollout):
    """Gate open, head silent but for the confidence channel: 1 + tanh(u) = 1 is the plain extrapolation,
    0 falls back to the last frame exactly, 2 moves twice as far; the left half may trust and the right
    half not."""
    flags = ("--image_h", "32", "--image_w", "32", "--num_predict_frames", "1", "--gen_flow_prior", "dis",
             "--gen_flow_confidence", "--gen_extrapolate", "--no_gen_copy_blend",
             *([] if rollout else ["--no_gen_rollout"]))
    model, _, args = make(*flags)
    gen = model.generator
    assert gen.use_confidence and gen.per_frame == 4  # flow (2), extrapolation, confidence
    clip, _ = clip_and_flow(args)
    flow = _uniform_flow(args, 1.5, -0.5)
    last, step = clip[:, args.num_input_frames - 1], -flow[:, 0]

    def predict(u: float) -> torch.Tensor:
        with torch.no_grad():
            gen.flow_prior_gate.fill_(1 / FLOW_PRIOR_GATE_GAIN)
            gen.out.bias.view(-1, gen.per_frame)[:, 3] = u
        return model(clip, mode="predict", flow=flow).prediction[:, 0]

    assert torch.allclose(predict(0.0), warp(last, _bounded(model, step)), atol=1e-5)
    assert torch.equal(predict(-30.0), last)  # tanh(−30) = −1 in float32: no flow at all
    assert torch.allclose(predict(30.0), warp(last, _bounded(model, 2 * step)), atol=1e-5)
    # per pixel: the left half trusts the flow twice over, the right half not at all
    head = torch.zeros(2, 1, gen.per_frame, 32, 32)
    head[:, :, 3, :, :16], head[:, :, 3, :, 16:] = 30.0, -30.0
    out, _ = gen._compose(head, last, None, None, flow[:, 0], None)
    assert torch.equal(out[:, 0, ..., 20:], last[..., 20:])  # away from the seam (bilinear reach)
    assert torch.allclose(out[:, 0, ..., :12], warp(last, _bounded(model, 2 * step))[..., :12], atol=1e-5)


def test_flow_prior_gate_learns_from_the_first_step_and_needs_the_loaders_flow():
    model, _, args = make("--image_h", "32", "--image_w", "32", "--gen_flow_prior", "dis")
    assert model.reads_flow
    clip, flow = clip_and_flow(args)
    prediction = model(clip, mode="train", flow=flow).prediction  # the generator's output
    prediction.sub(clip[:, args.num_input_frames:]).abs().mean().backward()
    assert model.generator.flow_prior_gate.grad.abs().min() > 0
    with pytest.raises(ValueError, match="--gen_flow_prior none"):
        model(clip, mode="train")
    plain, _, _ = make("--image_h", "32", "--image_w", "32", "--gen_flow_prior", "none")
    assert not plain.reads_flow and plain.generator.flow_prior_gate is None
    assert plain(clip, mode="predict").prediction.shape == (2, args.num_predict_frames, 3, 32, 32)


@pytest.mark.parametrize("rollout", [True, False])
def test_extrapolation_channel_continues_the_last_change(rollout):
    """With e_p = 1 everywhere and zero flow, frame p continues the last context change p + 1 times."""
    model, _, args = make("--image_h", "32", "--image_w", "32", "--num_predict_frames", "2",
                          "--gen_extrapolate", *([] if rollout else ["--no_gen_rollout"]))
    gen = model.generator
    with torch.no_grad():
        gen.out.bias.view(-1, gen.per_frame)[:, 2] = 1.0  # after the two flow channels
    clip, _ = clip_and_flow(args)
    I = args.num_input_frames
    pred = model(clip, mode="predict").prediction
    last, change = clip[:, I - 1], clip[:, I - 1] - clip[:, I - 2]
    for p in range(2):
        assert torch.allclose(pred[:, p], last + (p + 1) * change, atol=1e-5)
