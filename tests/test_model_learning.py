"""The real model learns: with the default losses, optimizer and settings it overfits one clip of the demo
video at 32×32 well below the copy-last error within 150 optimizer steps (the trainer's step: one G forward,
D on detached predictions, G through a frozen D once the adversarial weight is on, global clipping)."""

import cv2
import numpy as np
import pytest
import torch
from wubugaad.data.flow import opencv_flow
from wubugaad.data.video_cache import decoded_frames, make_demo_video
from wubugaad.model.losses import LossConfig, discriminator_loss, generator_losses
from wubugaad.model.vaegan import aligned_clips, build
from wubugaad.train.amp import clip_and_step
from wubugaad.train.config import parse_args
from wubugaad.train.session import _optimizers

STEPS = 150


def demo_clip(tmp_path, T: int, size: int = 32, start: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """`(1, T, 3, size, size)` in [-1, 1]: frames start … start+T−1 of a generated demo video, and their
    DIS flow `(1, T−1, 2, size, size)` as the data loader computes it."""
    path = make_demo_video(tmp_path / "demo.mp4", start + T, size, size, seed=0)
    frames = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in decoded_frames(path)][start : start + T])
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return clip.unsqueeze(0), torch.from_numpy(opencv_flow(frames, "dis")).unsqueeze(0)


def train_step(model, disc, opt_g, opt_d, args, clip, flow, step: int) -> dict:
    I = args.num_input_frames
    out = model(clip, mode="train", flow=flow)
    real, fake = aligned_clips(clip, out.prediction, I)
    logits = disc(torch.cat([real, fake.detach()]))
    d_loss, d_parts = discriminator_loss(*logits.chunk(2))
    d_loss.backward()
    losses = LossConfig.from_args(args)
    fake_logits = logits.chunk(2)[1].detach()
    if losses.gan_weight(step) > 0:
        disc.requires_grad_(False)
        fake_logits = disc(fake)
        disc.requires_grad_(True)
    g_loss, g_parts = generator_losses(out, clip[:, I:], losses, step, fake_logits)
    g_loss.backward()
    clip_and_step(opt_g, model.parameters(), None, args.global_max_grad_norm, False)
    clip_and_step(opt_d, disc.parameters(), None, args.global_max_grad_norm, False)
    opt_g.zero_grad(set_to_none=True)
    opt_d.zero_grad(set_to_none=True)
    return {**g_parts, **d_parts}


@pytest.mark.parametrize("generator_type", ["spatial"])
def test_default_model_overfits_one_demo_clip(tmp_path, generator_type):
    torch.set_num_threads(1)
    args = parse_args(["--image_h", "32", "--image_w", "32", "--generator_type", generator_type])
    I = args.num_input_frames
    clip, flow = demo_clip(tmp_path, I + args.num_predict_frames)
    target, last = clip[:, I:], clip[:, I - 1 : I]
    copy_mse = (last - target).square().mean()
    torch.manual_seed(0)
    model, disc = build(args, pretrained_flow=False)
    opt_g, opt_d = _optimizers(args, model, disc)
    model.train()
    disc.train()
    for step in range(STEPS):
        parts = train_step(model, disc, opt_g, opt_d, args, clip, flow, step)
        assert all(torch.isfinite(v) for v in parts.values()), (step, parts)
    model.eval()
    with torch.no_grad():
        recon = model(clip, mode="reconstruct", flow=flow).prediction
    recon_mse = (recon - target).square().mean()
    assert recon_mse <= 0.5 * copy_mse, (recon_mse.item(), copy_mse.item())
