"""The assembled VAE-GAN: shapes, causality, the residual start, D alignment,
configuration errors and RAFT weight handling at construction. Training steps: test_model_training.py."""

import pytest
import torch
from torchvision.models.optical_flow import raft_small
from wubugaad.model import motion
from wubugaad.model.vaegan import MODES, aligned_clips, build
from wubugaad.train.checkpoint import build_payload
from wubugaad.train.config import parse_args

# tiny widths everywhere: the shapes and wiring are what is tested, not capacity
TINY = ("--gen_base_channels 8 --disc_base_disc_channels 8 --disc_max_disc_channels 16 "
        "--encoder_initial_tangent_dim 16 --wubu_s_hyperbolic_dims 16 8 --wubu_t_hyperbolic_dims 16 "
        "--wubu_m_hyperbolic_dims 8 --latent_dim 8 --gaad_num_regions 4 --gaad_motion_num_regions 4 "
        "--encoder_shallow_cnn_channels 8 --encoder_pixel_patch_size 4 --disc_min_hidden_fc_dim 8 "
        "--disc_max_hidden_fc_dim 16 --disc_gaad_condition_dim_disc 8 --disc_patch_size 8 "
        "--disc_cnn_channels_2d 8 16 --wubu_dropout 0 --num_input_frames 2 --num_predict_frames 2").split()
# the flow prior reads the loader's flow; the tests that pass flow switch it on (test_spatial.py)
TINY += ["--gen_flow_prior", "none"]
MOTION = ["--use_wubu_motion_branch", "--optical_flow_net_type", "dis"]


def tiny_args(*extra: str):
    """Validated namespace: the tiny widths above plus `extra` flags (later flags win)."""
    return parse_args([*TINY, *extra])


def make(*extra: str, seed: int = 0, pretrained_flow: bool = False):
    """`(model, discriminator, args)` built from tiny args with a fixed seed."""
    args = tiny_args(*extra)
    torch.manual_seed(seed)
    model, disc = build(args, pretrained_flow=pretrained_flow)
    return model, disc, args


def clip_and_flow(args, B: int = 2, seed: int = 1):
    """Random clip `(B, T, C, H, W)` in [-1, 1] and flow `(B, T−1, 2, H, W)` in pixels."""
    g = torch.Generator().manual_seed(seed)
    T = args.num_input_frames + args.num_predict_frames
    clip = torch.rand(B, T, args.num_channels, args.image_h, args.image_w, generator=g) * 2 - 1
    flow = torch.randn(B, T - 1, 2, args.image_h, args.image_w, generator=g) * 2
    return clip, flow


def randomise_output_conv(model):
    """Give the zero-initialised generator output conv random weights (a 'trained' residual), so the
    prediction depends on the context code, not only on the last frame."""
    torch.manual_seed(5)
    torch.nn.init.normal_(model.generator.out.weight, std=0.1)


# ---------------------------------------------------------------- shapes
SHAPE_CASES = [  # (H, W, B, flags)
    (64, 64, 2, []),
    (64, 64, 2, [*MOTION, "--discriminator_type", "regional_cnn", "--disc_use_gaad_film_condition"]),
    (64, 112, 2, [*MOTION, "--disc_use_gaad_film_condition", "--prior", "learned"]),
    (64, 112, 2, ["--discriminator_type", "regional_cnn", "--generator_type", "global",
                  "--no_residual_generator"]),
    (256, 256, 1, [*MOTION, "--disc_use_gaad_film_condition"]),
    (256, 256, 1, ["--discriminator_type", "regional_cnn", "--disc_use_gaad_film_condition"]),
    (64, 112, 2, [*MOTION, "--num_input_frames", "0"]),
    (64, 64, 2, ["--discriminator_type", "regional_cnn", "--num_input_frames", "0", "--prior", "learned"]),
    (64, 64, 2, [*MOTION, "--gaad_decomposition_type", "motion_adaptive", "--num_input_frames", "1"]),
]


@pytest.mark.parametrize("H, W, B, flags", SHAPE_CASES)
def test_shapes_every_mode_and_both_discriminators(H, W, B, flags):
    model, disc, args = make("--image_h", str(H), "--image_w", str(W), *flags)
    I, P, C, D_lat = args.num_input_frames, args.num_predict_frames, args.num_channels, args.latent_dim
    clip, flow = clip_and_flow(args, B)
    flow = flow if model.reads_flow else None
    film = args.disc_use_gaad_film_condition
    for mode in MODES:
        out = model(clip, mode=mode, flow=flow)
        assert out.prediction.shape == (B, P, C, H, W), mode
        # the spatial generator has a code per future frame, the global one a code per clip
        codes = (B, P, D_lat) if model.spatial else (B, D_lat)
        assert out.mu.shape == out.logvar.shape == out.prior_mu.shape == out.prior_logvar.shape == codes
        assert torch.isfinite(out.prediction).all()
        if I == 0:
            assert out.context is None and out.condition is None and model.disc_condition_dim == 0
        else:
            assert out.context.shape == (B, model.encoder.output_dim)
            assert out.condition.shape == (B, model.disc_condition_dim)
            assert not out.condition.requires_grad
        real, fake = aligned_clips(clip, out.prediction, I)
        assert real.shape == fake.shape == (B, I + P, C, H, W)
        logits = disc(torch.cat([real, fake]), torch.cat([out.condition] * 2) if film else None)
        assert logits.shape == (2 * B,) and torch.isfinite(logits).all()
    # prediction and generation read only the context: a clip of just the context frames (or of none)
    short = clip[:, :I]
    for mode in ("predict", "generate"):
        assert model(short, mode=mode, flow=None if flow is None else flow[:, : max(I - 1, 0)]
                     ).prediction.shape == (B, P, C, H, W)


def test_raft_shapes_at_128():
    model, disc, args = make("--image_h", "128", "--image_w", "128", "--use_wubu_motion_branch",
                             "--optical_flow_net_type", "raft_small", "--freeze_flow_net",
                             "--num_input_frames", "1", "--num_predict_frames", "1")
    clip, _ = clip_and_flow(args, B=1)
    for mode in MODES:  # no flow given: the estimator computes it
        out = model(clip, mode=mode)
        assert out.prediction.shape == (1, 1, 3, 128, 128) and torch.isfinite(out.prediction).all()
    assert disc(clip).shape == (1,)


def test_flow_of_the_wrong_shape_is_rejected():
    model, _, args = make(*MOTION, "--image_h", "32", "--image_w", "48")
    clip, flow = clip_and_flow(args)
    # the spatial generator's encoder reads the context frames in every mode: I − 1 pairs are needed
    for bad in (flow[:, : args.num_input_frames - 2], flow[..., :32, :32], flow[:1]):
        with pytest.raises(ValueError, match=r"flow must be \(B, T-1, 2, H, W\)"):
            model(clip, mode="train", flow=bad)
    with pytest.raises(ValueError, match="mode 'train' needs clips of"):
        model(clip[:, :3], mode="train", flow=flow)


# ---------------------------------------------------------------- causality
def test_context_code_and_prediction_are_blind_to_targets():
    model, _, args = make(*MOTION, "--num_input_frames", "3", "--image_h", "32", "--image_w", "48")
    randomise_output_conv(model)
    model.eval()
    I = args.num_input_frames
    clip, flow = clip_and_flow(args)
    other, other_flow = clip_and_flow(args, seed=9)
    z0 = torch.zeros(model.noise_shape(clip.shape[0]))

    def run(c, f):
        rec = model(c, mode="reconstruct", flow=f)
        return rec.context, rec.mu, model(c, mode="predict", flow=f, z=z0).prediction

    ctx, mu, pred = run(clip, flow)
    # new targets: frames I.. and every pair that touches them, (I−1, I) onwards
    new_targets = torch.cat([clip[:, :I], other[:, I:]], dim=1)
    new_target_flow = torch.cat([flow[:, : I - 1], other_flow[:, I - 1:]], dim=1)
    ctx_t, mu_t, pred_t = run(new_targets, new_target_flow)
    assert torch.equal(ctx_t, ctx) and torch.equal(pred_t, pred)
    assert not torch.allclose(mu_t, mu)  # the posterior does read the targets
    # a context frame that is not the last one: the residual's base frame stays, so only h can carry it
    new_first = clip.clone()
    new_first[:, 0] = other[:, 0]
    ctx_c, _, pred_c = run(new_first, flow)
    assert not torch.allclose(ctx_c, ctx) and not torch.allclose(pred_c, pred)
    # the motion input alone moves μ
    _, mu_f, _ = run(clip, other_flow)
    assert not torch.allclose(mu_f, mu)
    # predict mode accepts just the context frames (and their pairs)
    short = model(clip[:, :I], mode="predict", flow=flow[:, : I - 1], z=z0).prediction
    assert torch.equal(short, pred)


# ---------------------------------------------------------------- the residual start
@pytest.mark.parametrize("flags", [[], ["--prior", "learned", *MOTION], ["--gen_synthesis", *MOTION]])
def test_untrained_prediction_copies_last_frame_and_reconstruction_depends_on_z(flags):
    model, _, args = make(*flags, "--image_h", "32", "--image_w", "48")
    I = args.num_input_frames
    clip, flow = clip_and_flow(args)
    flow = flow if model.reads_flow else None
    pred = model(clip, mode="predict", flow=flow).prediction  # z = the prior's mean
    last = clip[:, I - 1 : I].expand_as(pred)
    assert (pred - last).abs().max() <= 1e-6
    if not model.generator.use_synthesis:
        # a pure warp: z steers the decoder, which the zero-initialised head hides until it has learned
        randomise_output_conv(model)
    rec = model(clip, mode="reconstruct", flow=flow)
    assert (rec.prediction - last).abs().max() > 0  # μ ≠ 0 already moves the output
    z1 = torch.randn_like(rec.mu)
    out1 = model(clip, mode="reconstruct", flow=flow, z=z1).prediction
    out2 = model(clip, mode="reconstruct", flow=flow, z=-z1).prediction
    assert (out1 - out2).abs().max() > 1e-6


# ---------------------------------------------------------------- discriminator alignment
def test_real_and_fake_clips_cover_the_same_time_indices():
    model, disc, args = make("--image_h", "32", "--image_w", "32", "--num_input_frames", "3")
    I, P = args.num_input_frames, args.num_predict_frames
    T = I + P
    # frame t is filled with t / T: a frame's mean value reads back its time index
    times = torch.arange(T, dtype=torch.float32) / T
    clip = times.view(1, T, 1, 1, 1).expand(2, T, 3, 32, 32).contiguous()

    def time_index(x):
        return x.mean(dim=(2, 3, 4)) * T  # (B, T')

    out = model(clip, mode="train")
    real, fake = aligned_clips(clip, out.prediction, I)
    assert torch.allclose(time_index(real), torch.arange(T, dtype=torch.float32).expand(2, T))
    assert torch.equal(fake[:, :I], real[:, :I]) and torch.equal(fake[:, I:], out.prediction)
    # a generator that predicted every target perfectly yields exactly the real clip
    perfect = times[I:].view(1, P, 1, 1, 1).expand(2, P, 3, 32, 32)
    real, fake = aligned_clips(clip, perfect, I)
    assert torch.equal(time_index(fake), time_index(real))
    assert torch.equal(disc(fake), disc(real))
    with pytest.raises(ValueError, match="num_input_frames"):
        aligned_clips(clip[:, 1:], perfect, I)


# ---------------------------------------------------------------- configuration errors
def _bad(*flags: str, **attrs):
    """Valid parsed args, then attributes set behind the parser's back (to reach build's own checks)."""
    args = tiny_args(*flags)
    for name, value in attrs.items():
        setattr(args, name, value)
    return args


@pytest.mark.parametrize("args, match", [
    (lambda: _bad(*MOTION, optical_flow_net_type="pwc"),
     r"--optical_flow_net_type 'pwc' unknown.*raft_small"),
    (lambda: _bad("--use_wubu_motion_branch", "--image_h", "128", "--image_w", "128", image_h=96),
     r"≥ 128 and divisible by 8.*dis"),
    (lambda: _bad("--use_wubu_motion_branch", "--image_h", "128", "--image_w", "128", image_w=132),
     r"≥ 128 and divisible by 8.*dis"),
    (lambda: _bad("--disc_use_gaad_film_condition", num_input_frames=0),
     r"--num_input_frames >= 1 or drop the flag"),
    (lambda: _bad(gen_final_conv_kernel_spatial=4), r"--gen_final_conv_kernel_spatial must be odd"),
    (lambda: _bad("--generator_type", "global", gen_temporal_kernel_size=2),
     r"--gen_temporal_kernel_size .* must be odd"),
])
def test_bad_configuration_fails_at_construction(args, match):
    with pytest.raises(ValueError, match=match):
        build(args(), pretrained_flow=False)


# ---------------------------------------------------------------- RAFT weights at construction
def plant_raft_weights(tmp_path, monkeypatch):
    """A random raft_small state_dict saved where the torch hub cache is looked up; returns it."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(123)
    state = raft_small(weights=None, progress=False).state_dict()
    path = motion.raft_weights_file("raft_small")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


RAFT_FLAGS = ("--image_h", "128", "--image_w", "128", "--use_wubu_motion_branch", "--optical_flow_net_type",
              "raft_small", "--num_input_frames", "1", "--num_predict_frames", "1")


@pytest.mark.parametrize("freeze", [True, False])
def test_raft_weights_survive_building_and_checkpoint_exclusion(tmp_path, monkeypatch, freeze):
    planted = plant_raft_weights(tmp_path, monkeypatch)
    model, _, _ = make(*RAFT_FLAGS, *(["--freeze_flow_net"] if freeze else []), pretrained_flow=True)
    net_state = model.flow_estimator.net.state_dict()
    assert net_state.keys() == planted.keys()
    assert all(torch.equal(net_state[k], planted[k]) for k in planted)  # no initialiser touched them
    model.train()
    assert not any(m.training for m in model.flow_estimator.modules())
    assert model.encoder.training and model.generator.training
    flow_keys = {k for k in model.state_dict() if k.startswith("flow_estimator.")}
    assert len(flow_keys) == len(planted)
    saved = build_payload(model, None, None, None, None, None, 0, 0, None, {})["model"]
    if freeze:
        assert model.excluded_state_prefixes == ("flow_estimator.",)
        assert not any(p.requires_grad for p in model.flow_estimator.parameters())
        assert saved.keys() == model.state_dict().keys() - flow_keys  # the checkpoint leaves them out
    else:  # a trained estimator is ours: saved like any other weight
        assert model.excluded_state_prefixes == ()
        assert all(p.requires_grad for p in model.flow_estimator.parameters())
        assert saved.keys() == model.state_dict().keys()


def test_missing_raft_weights_name_the_file_and_both_ways_out(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(motion.MissingWeightsError, match=r"looked for .*--optical_flow_weights.*dis"):
        make(*RAFT_FLAGS, pretrained_flow=True)
