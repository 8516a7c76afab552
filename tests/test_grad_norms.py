"""Per-component gradient norms: right values, log steps only, no host sync in the optimizer steps."""

from __future__ import annotations

import pytest
import torch
from _sync_guard import no_host_sync
from test_trainer import read_metrics, tiny_argv
from wubugaad.model.vaegan import aligned_clips
from wubugaad.train import config, grad_norms, session, trainer
from wubugaad.train.validation import prepare_batch

REAL = ("--gaad_num_regions", "3", "--wubu_s_hyperbolic_dims", "8", "--wubu_t_hyperbolic_dims", "8",
        "--encoder_initial_tangent_dim", "8", "--gen_base_channels", "8", "--disc_base_disc_channels", "8",
        "--encoder_shallow_cnn_channels", "8", "--encoder_pixel_patch_size", "4", "--disc_min_hidden_fc_dim",
        "8", "--disc_max_hidden_fc_dim", "16", "--disc_max_disc_channels", "16")


def _backward(s):
    clip, flow = prepare_batch(next(iter(s.train_loader)), s.dist.device)
    out = s.model(clip, mode="train", flow=flow)
    real, fake = aligned_clips(clip, out.prediction, s.args.num_input_frames)
    target = clip[:, s.args.num_input_frames:]
    # the prediction's term reaches the generator (the spatial latent's forecast term when it is on); μ of
    # the per-frame latent lives in the generator too
    outputs = [x for x in (out.prediction, out.forecast) if x is not None]
    loss = sum((x - target).square().mean() for x in outputs) + out.mu.square().mean()
    (loss + s.disc(torch.cat([real, fake.detach()])).square().mean()).backward()


@pytest.mark.parametrize("optimizer", ["risgd", "riemannian_adam"])
def test_component_norms_and_both_optimizer_steps_without_host_sync(tmp_path, optimizer):
    argv = tiny_argv(tmp_path, *REAL, "--optimizer", optimizer, "--use_wubu_motion_branch",
                     "--optical_flow_net_type", "dis", "--q_controller_enabled")
    s = session.setup(config.parse_args(argv))
    parts = (grad_norms.components(s.model), grad_norms.discriminator_components(s.disc))
    assert set(parts[0]) | set(parts[1]) == set(grad_norms.KEYS)
    _backward(s)
    expected = {k: torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in ps if p.grad is not None]))
                for part in parts for k, ps in part.items()}
    assert expected["grad_norm/geometry"] > 0 and expected["grad_norm/wubu_m"] > 0
    with no_host_sync():
        norms = trainer.optimizer_steps(s, parts)
    assert set(norms) == set(grad_norms.KEYS)
    for key, value in expected.items():
        torch.testing.assert_close(norms[key], value.float(), rtol=1e-5, atol=1e-8, msg=key)
    _backward(s)
    with no_host_sync():
        assert trainer.optimizer_steps(s, None) == {}  # a non-log step computes nothing to read back


def test_component_norms_are_logged_at_log_steps_only(tmp_path):
    argv = tiny_argv(tmp_path, *REAL, "--max_steps", "4", "--log_interval", "2")
    assert trainer.run(config.parse_args(argv)) == 0
    records = [r for r in read_metrics(tmp_path / "run") if "train/loss_g_total" in r]
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        for key in ("grad_norm/wubu_s", "grad_norm/wubu_t", "grad_norm/geometry", "grad_norm/encoder",
                    "grad_norm/generator", "grad_norm/discriminator"):
            assert record[key] >= 0.0, key
        assert record["grad_norm/encoder"] > 0 and record["grad_norm/discriminator"] > 0
