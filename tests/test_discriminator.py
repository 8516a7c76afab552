"""Discriminators: shapes on square/non-square/large frames, spectral norm, FiLM, errors."""


import pytest
import torch
from _configs import model_config
from wubugaad.model.discriminator import (
    RegionalDiscriminator,
    SpatioTemporalDiscriminator,
    _spatial_plan,
    build_discriminator,
    judging,
    stem_stride,
)
from wubugaad.model.vaegan import aligned_clips


def _args(**kw):
    base = dict(
        image_h=64, image_w=64, num_channels=3, discriminator_type="spatio_temporal_cnn",
        disc_apply_spectral_norm=False, disc_base_disc_channels=4, disc_max_disc_channels=16,
        disc_temporal_kernel_size=3, disc_min_hidden_fc_dim=8, disc_max_hidden_fc_dim=32,
        disc_use_gaad_film_condition=False, disc_gaad_condition_dim_disc=6, disc_patch_size=8,
        disc_cnn_channels_2d=[4, 8], gaad_num_regions=5, gaad_decomposition_type="hybrid", gaad_min_size_px=4,
        disc_stem_stride=0,
    )
    base.update(kw)
    return model_config(**base)


def _clip(B, T, H, W, seed=0):
    return torch.rand(B, T, 3, H, W, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("kind", ["spatio_temporal_cnn", "regional_cnn"])
@pytest.mark.parametrize("hw", [(64, 64), (64, 112), (256, 256)])
def test_shapes_and_gradients(kind, hw):
    H, W = hw
    disc = build_discriminator(_args(image_h=H, image_w=W, discriminator_type=kind), cond_dim=0)
    clip = _clip(2, 3, H, W).requires_grad_()
    out = disc(clip)
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    assert clip.grad.abs().sum() > 0
    for name, p in disc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_spatial_plan_ends_near_4x4():
    for H, W in [(64, 64), (64, 112), (256, 256), (8, 8), (4, 6), (128, 40)]:
        h, w = H, W
        for sh, sw in _spatial_plan(H, W):
            h, w = h // sh, w // sw
        assert h < 8 and w < 8 and h >= min(H, 4) and w >= min(W, 4)
    conv_hw = SpatioTemporalDiscriminator(_args(image_h=64, image_w=112)).convs
    assert len(conv_hw) == 4 and [c.out_channels for c in conv_hw] == [4, 8, 16, 16]


@pytest.mark.parametrize("kind", ["spatio_temporal_cnn", "regional_cnn"])
def test_spectral_norm_on_off(kind):
    on = build_discriminator(_args(discriminator_type=kind, disc_apply_spectral_norm=True))
    off = build_discriminator(_args(discriminator_type=kind, disc_apply_spectral_norm=False))
    assert any("parametrizations.weight" in n for n, _ in on.named_parameters())
    assert not any("parametrizations" in n for n, _ in off.named_parameters())
    on.eval()
    conv = on.convs[0]
    sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
    assert sigma < 1.05  # the normalised weight has spectral norm ≈ 1
    assert on(_clip(1, 2, 64, 64)).shape == (1,)


@pytest.mark.parametrize("kind", ["spatio_temporal_cnn", "regional_cnn"])
def test_film_identity_at_init_then_per_sample(kind):
    torch.manual_seed(0)
    args = _args(discriminator_type=kind, disc_use_gaad_film_condition=True, image_h=32, image_w=48)
    disc = build_discriminator(args, cond_dim=6).eval()
    clip = _clip(1, 2, 32, 48).expand(2, -1, -1, -1, -1)  # same clip twice
    cond = torch.randn(2, 6)
    with torch.no_grad():
        base = disc(clip, torch.zeros(2, 6))
        at_init = disc(clip, cond)
        assert torch.equal(base, at_init)  # zero-initialised FiLM: γ = 1, β = 0 for any condition
        torch.nn.init.normal_(disc.film.proj.weight, std=0.5)
        moved = disc(clip, cond)
    assert not torch.allclose(moved[0], moved[1])  # the condition differs per sample, so does the logit
    disc.train()
    disc(clip, cond).sum().backward()
    assert disc.film.proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["spatio_temporal_cnn", "regional_cnn"])
def test_film_without_condition_is_an_error(kind):
    args = _args(discriminator_type=kind, disc_use_gaad_film_condition=True)
    with pytest.raises(ValueError, match="disc_use_gaad_film_condition"):
        build_discriminator(args, cond_dim=0)
    disc = build_discriminator(args, cond_dim=3)
    with pytest.raises(ValueError, match="cond"):
        disc(_clip(1, 2, 64, 64))


def test_bad_types_are_errors():
    with pytest.raises(ValueError, match="discriminator_type"):
        build_discriminator(_args(discriminator_type="patchgan"))
    with pytest.raises(ValueError, match="gaad_decomposition_type"):
        RegionalDiscriminator(_args(gaad_decomposition_type="grid"))
    with pytest.raises(ValueError, match="disc_cnn_channels_2d"):
        RegionalDiscriminator(_args(disc_cnn_channels_2d=[]))


def test_regional_boxes_cover_every_frame_in_one_batch():
    disc = RegionalDiscriminator(_args(image_h=32, image_w=48))
    clip = _clip(2, 3, 32, 48)
    rois = disc._rois(clip)
    assert rois.shape == (2 * 3 * 5, 5)
    assert torch.equal(rois[:, 0], torch.arange(6.0).repeat_interleave(5))
    # a change confined to the last frame of sample 1 changes only sample 1's logit
    clip2 = clip.clone()
    clip2[1, -1] = -clip2[1, -1]
    with torch.no_grad():
        a, b = disc(clip), disc(clip2)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])


def test_regional_motion_adaptive_boxes_follow_the_clip():
    disc = RegionalDiscriminator(_args(image_h=32, image_w=32, gaad_decomposition_type="motion_adaptive"))
    clip = torch.zeros(2, 2, 3, 32, 32)
    clip[0, 1, :, 2:8, 2:8] = 1.0  # sample 0 moves top-left, sample 1 bottom-right
    clip[1, 1, :, 24:30, 24:30] = 1.0
    rois = disc._rois(clip).view(2, 2, 5, 5)
    assert torch.equal(rois[0, 0, :, 1:], rois[0, 1, :, 1:])  # same boxes for all frames of a clip
    assert not torch.equal(rois[0, 0, :, 1:], rois[1, 0, :, 1:])
    assert disc(clip).shape == (2,)


@pytest.mark.parametrize("hw, requested, stem", [((64, 64), 0, 2), ((256, 256), 0, 8), ((128, 224), 0, 4),
                                                 ((64, 112), 4, 4), ((256, 256), 2, 2), ((256, 256), 4, 4),
                                                 ((256, 384), 0, 8)])
def test_stem_stride_and_plan(hw, requested, stem):
    H, W = hw
    assert stem_stride(H, W, requested) == stem
    disc = SpatioTemporalDiscriminator(_args(image_h=H, image_w=W, disc_stem_stride=requested))
    first = disc.convs[0]
    assert first.stride[1:] == (stem, stem)
    if stem >= 4:  # a per-frame patch embedding: no temporal kernel, no overlap
        assert first.kernel_size == (1, stem, stem) and first.padding == (0, 0, 0)
    h = disc.convs[0](torch.zeros(1, 3, 2, H, W))
    assert h.shape[-2:] == (H // stem, W // stem)
    h, w = H, W
    for sh, sw in _spatial_plan(H, W, stem):
        h, w = h // sh, w // sw
    assert 4 <= h < 8 and 4 <= w < 8
    out = disc(_clip(2, 3, H, W))
    assert out.shape == (2,) and torch.isfinite(out).all()


def test_judging_reuses_the_power_iteration_of_the_d_step():
    disc = SpatioTemporalDiscriminator(_args(disc_apply_spectral_norm=True)).train()
    real, fake = _clip(2, 3, 64, 64, seed=1), _clip(2, 3, 64, 64, seed=2).requires_grad_()
    d_logits = disc(torch.cat([real, fake.detach()]))  # D's step: one power iteration per layer
    u_after_d = [m.parametrizations.weight[0]._u.clone() for m in disc.convs]
    with judging(disc):
        assert not disc.training and not any(p.requires_grad for p in disc.parameters())
        g_logits = disc(fake)
    assert disc.training and all(p.requires_grad for p in disc.parameters())
    # the generator's pass saw exactly the weights D was judged with, and ran no power iteration: the
    # logits agree to float rounding (a batch of 2 and of 4 may sum in another order; one more power
    # iteration moves them by about 5e-5 here)
    torch.testing.assert_close(g_logits, d_logits[2:], rtol=0, atol=1e-6)
    u_after_g = [m.parametrizations.weight[0]._u for m in disc.convs]
    assert all(torch.equal(a, b) for a, b in zip(u_after_g, u_after_d, strict=True))
    g_logits.sum().backward()
    assert fake.grad.abs().sum() > 0 and all(p.grad is None for p in disc.parameters())


def test_aligned_clips_keep_the_last_k_context_frames():
    B, I, P = 2, 5, 3
    clip = torch.arange(I + P, dtype=torch.float32).view(1, I + P, 1, 1, 1).expand(B, I + P, 3, 4, 4)
    pred = -torch.ones(B, P, 3, 4, 4)
    for K, kept in ((2, 2), (0, 0), (9, I), (None, I)):
        real, fake = aligned_clips(clip, pred, I, K)
        assert real.shape[1] == fake.shape[1] == kept + P
        times = real[0, :, 0, 0, 0].tolist()
        assert times == list(range(I - kept, I + P))  # real frame k shows time I − K + k
        assert torch.equal(fake[:, :kept], real[:, :kept]) and torch.equal(fake[:, kept:], pred)
