"""Training loop mechanics: outputs, exact resume, phase settings, non-finite abort, sampler.

Loop-mechanics tests use a tiny fake model with the real call signature (``model(clip, mode, z, flow)`` →
an object with ``prediction, mu, logvar, context, prior_mu, prior_logvar, condition``) so they run in a few
seconds; the resume-equivalence test also runs the real model.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from wubugaad.train import config, ema, session, trainer
from wubugaad.train.checkpoint import checkpoint_name, load_checkpoint


class FakeModel(nn.Module):
    """pred = last context frame + W·z (broadcast over frames and pixels); dropout and ε use the torch RNG."""

    def __init__(self, args, nan: bool = False):
        super().__init__()
        self.n_in, self.P, self.C = args.num_input_frames, args.num_predict_frames, args.num_channels
        self.enc = nn.Linear(self.C, 2 * args.latent_dim)
        self.dec = nn.Linear(args.latent_dim, self.C)
        self.drop = nn.Dropout(0.2)
        self.curvature = nn.Parameter(torch.tensor(1.0))
        self.nan = nan
        self.excluded_state_prefixes = ()

    def forward(self, clip, mode="train", z=None, flow=None):
        B, _, C, H, W = clip.shape
        mu, logvar = self.drop(self.enc(clip.mean(dim=(1, 3, 4)))).chunk(2, dim=1)  # (B, latent) each
        if z is None:
            z = {"train": mu + (0.5 * logvar).exp() * torch.randn_like(mu), "reconstruct": mu,
                 "predict": torch.zeros_like(mu)}[mode]
        base = clip[:, self.n_in - 1:self.n_in] if self.n_in > 0 else torch.zeros_like(clip[:, :1])
        pred = base + self.curvature * self.dec(z).view(B, 1, C, 1, 1)  # (B, P, C, H, W) by broadcast
        pred = pred.expand(B, self.P, C, H, W)
        if self.nan:
            pred = pred * float("nan")
        return SimpleNamespace(prediction=pred, mu=mu, logvar=logvar, context=None, prior_mu=None,
                               prior_logvar=None, condition=None, map_mu=None, map_logvar=None,
                               forecast=None, prior_prediction=None)

    def noise_shape(self, batch):
        return (batch, self.dec.in_features)  # a clip-level code, like the global generator's

    def geometry_stats(self):
        return {"wubu_s/level0/curvature": self.curvature.detach()}


class FakeDisc(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.head = nn.Linear(args.num_channels, 1)

    def forward(self, clip, cond=None):
        return self.head(clip.mean(dim=(1, 3, 4))).squeeze(1)  # (B,)


def fake_build(args, nan: bool = False, pretrained_flow: bool = True):
    torch.manual_seed(args.seed)
    return FakeModel(args, nan=nan), FakeDisc(args)


def tiny_argv(tmp_path, *extra: str) -> list[str]:
    """A tiny, fast configuration on the generated demo video."""
    return ["--video_data_path", str(tmp_path / "demo_video_data"), "--cache_dir", str(tmp_path / "cache"),
            "--checkpoint_dir", str(tmp_path / "run"), "--image_h", "16", "--image_w", "16",
            "--num_input_frames", "2", "--num_predict_frames", "1", "--batch_size", "2", "--num_workers", "0",
            "--epochs", "50", "--log_interval", "1", "--val_max_clips", "4", "--val_block_size", "4",
            "--num_val_samples_to_log", "2", "--demo_num_samples", "2", "--deterministic",
            "--latent_dim", "8",
            "--learning_rate_gen", "0.05", "--learning_rate_disc", "0.05", *extra]


def read_metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(session.model_lib, "build", fake_build)


def test_loop_writes_checkpoints_metrics_and_samples(tmp_path, fake):
    argv = tiny_argv(tmp_path, "--max_steps", "3", "--log_grad_norm", "--val_interval", "2")
    args = config.parse_args(argv)
    assert trainer.run(args) == 0
    run = tmp_path / "run"
    for kind in ("last", "best"):
        assert (run / checkpoint_name(kind)).is_file()
    assert json.loads((run / "config.json").read_text())["max_steps"] == 3
    records = read_metrics(run)
    train_steps = [r["step"] for r in records if "train/loss_g_total" in r]
    assert train_steps == [1, 2, 3]
    keys = set().union(*records)
    for key in ("train/loss_recon", "train/loss_kl", "train/loss_g_adv", "train/loss_d_total", "train/lr_gen",
                "train/lambda_kl_eff", "train/grad_norm_gen", "geometry/wubu_s/level0/curvature",
                "val/avg_val_psnr", "val/pred_psnr", "val/copy_last_psnr", "val/avg_val_ssim"):
        assert key in keys, key
    val_steps = [r["step"] for r in records if "val/avg_val_psnr" in r]
    assert val_steps == [2, 3]  # every --val_interval steps and once at the end
    samples = {p.name for p in (run / "samples").iterdir()}
    assert {"step2_prediction.png", "step2_prediction.mp4", "step3_fixed_noise.png"} <= samples
    last = load_checkpoint(run / checkpoint_name("last"))
    assert last["step"] == 3 and last["best_metric"] is not None


def _params(path) -> dict[str, torch.Tensor]:
    payload = load_checkpoint(path)
    return {**{f"g.{k}": v for k, v in payload["model"].items()},
            **{f"d.{k}": v for k, v in payload["discriminator"].items()},
            **{f"ema.{k}": v for k, v in (payload["ema"] or {}).items()}}


def _assert_resume_equivalent(tmp_path, extra: tuple[str, ...], steps: int) -> None:
    full, half = tmp_path / "full", tmp_path / "half"
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, "--checkpoint_dir", str(full), "--max_steps",
                                                   str(2 * steps), *extra))) == 0
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, "--checkpoint_dir", str(half), "--max_steps",
                                                   str(steps), *extra))) == 0
    midway = _params(half / checkpoint_name("last"))
    resume = ("--checkpoint_dir", str(half), "--max_steps", str(2 * steps), "--load_checkpoint", "auto")
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, *resume, *extra))) == 0
    a, b = _params(full / checkpoint_name("last")), _params(half / checkpoint_name("last"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0, msg=key)
    assert any(not torch.equal(midway[k], b[k]) for k in b), "the resumed steps did not change the parameters"


def test_without_an_adversarial_term_the_discriminator_is_neither_run_nor_trained(tmp_path, fake, capsys):
    """--lambda_gan 0: D keeps its initial weights and its losses are not logged. A Q-controller reads D's
    losses, so it brings D back."""
    def run(name: str, *extra: str):
        argv = tiny_argv(tmp_path, "--checkpoint_dir", str(tmp_path / name), "--max_steps", "3",
                         "--lambda_gan", "0", "--log_grad_norm", *extra)
        assert trainer.run(config.parse_args(argv)) == 0
        return tmp_path / name
    run_dir = run("off")
    assert "D: off" in capsys.readouterr().out
    first = load_checkpoint(run_dir / checkpoint_name("last"))
    keys = set().union(*read_metrics(run_dir))
    assert "train/loss_recon" in keys and "train/grad_norm_gen" in keys
    assert not keys & {"train/loss_d_total", "train/loss_g_adv", "train/lr_disc", "train/grad_norm_disc"}
    initial = fake_build(config.parse_args(tiny_argv(tmp_path)))[1].state_dict()  # seeded: the run's start
    for k, v in first["discriminator"].items():
        assert torch.equal(v, initial[k]), k
    with_q = load_checkpoint(run("q", "--q_controller_enabled") / checkpoint_name("last"))
    assert any(not torch.equal(v, initial[k]) for k, v in with_q["discriminator"].items())


def test_resume_is_exactly_equivalent_fake(tmp_path, fake):
    # 5 steps per half crosses an epoch boundary (the tiny demo split gives a few batches per epoch)
    _assert_resume_equivalent(tmp_path, ("--grad_accum_steps", "2", "--q_controller_enabled"), steps=5)


def test_resume_is_exactly_equivalent_real_model(tmp_path):
    _assert_resume_equivalent(tmp_path, ("--gaad_num_regions", "3", "--wubu_s_hyperbolic_dims", "8",
                                         "--wubu_t_hyperbolic_dims", "8", "--encoder_initial_tangent_dim",
                                         "8", "--gen_base_channels", "8", "--disc_base_disc_channels", "8",
                                         "--encoder_shallow_cnn_channels", "8", "--encoder_pixel_patch_size",
                                         "4", "--disc_min_hidden_fc_dim", "8", "--disc_max_hidden_fc_dim",
                                         "16", "--disc_max_disc_channels", "16"), steps=2)


def test_resume_applies_new_loss_weight_and_learning_rate(tmp_path, fake, capsys):
    run = tmp_path / "run"
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, "--max_steps", "2"))) == 0
    argv = tiny_argv(tmp_path, "--max_steps", "4", "--load_checkpoint", str(run / checkpoint_name("last")),
                     "--lambda_kl", "0.5", "--learning_rate_gen", "0.003")
    assert trainer.run(config.parse_args(argv)) == 0
    after = [r for r in read_metrics(run) if r["step"] > 2 and "train/lr_gen" in r]
    assert after and all(r["train/lr_gen"] == pytest.approx(0.003) for r in after)
    assert all(r["train/lambda_kl_eff"] == pytest.approx(0.5) for r in after)
    before = [r for r in read_metrics(run) if r["step"] <= 2 and "train/lr_gen" in r]
    assert all(r["train/lr_gen"] == pytest.approx(0.05) for r in before)
    out = capsys.readouterr().out
    assert "lambda_kl: 0.1 -> 0.5" in out and "learning_rate_gen: 0.05 -> 0.003" in out
    assert load_checkpoint(run / checkpoint_name("last"))["config"]["lambda_kl"] == 0.5


def test_nonfinite_steps_are_skipped_then_abort(tmp_path, monkeypatch):
    monkeypatch.setattr(session.model_lib, "build", lambda args, **kw: fake_build(args, nan=True, **kw))
    args = config.parse_args(tiny_argv(tmp_path, "--max_steps", "10", "--max_consecutive_nonfinite", "3"))
    s = trainer.setup(args)
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    with pytest.raises(trainer.NonFiniteError, match="--max_consecutive_nonfinite 3"):
        trainer.train(s)
    assert s.step == 3
    for key, value in s.model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed in a skipped step"


def test_epoch_sampler_order_depends_on_seed_and_epoch_only():
    a, b = session.EpochSampler(10, 0, 1, seed=3), session.EpochSampler(10, 0, 1, seed=3)
    a.set_epoch(2)
    b.set_epoch(2, skip=4)
    assert list(b) == list(a)[4:] and len(b) == 6
    a.set_epoch(3)
    assert sorted(a) == list(range(10)) and list(a) != list(b)
    shards = [session.EpochSampler(7, r, 2, seed=0) for r in range(2)]
    for s in shards:
        s.set_epoch(1)
    assert len(shards[0]) == len(shards[1]) == 4
    assert set(shards[0]) | set(shards[1]) == set(range(7))


def test_rng_state_round_trips_as_plain_data():
    state = session.rng_state()
    expected = torch.rand(3)
    torch.manual_seed(123)
    session.set_rng_state(state)
    torch.testing.assert_close(torch.rand(3), expected)


def test_new_phase_starts_its_own_best_checkpoint(tmp_path, fake):
    """Resuming in the same folder keeps the best score; a checkpoint from another folder (a new phase)
    does not, so the new phase always leaves its own _best.pt even if it never beats the old score."""
    first = tmp_path / "phase1"
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, "--checkpoint_dir", str(first),
                                                   "--max_steps", "2"))) == 0
    best = load_checkpoint(first / checkpoint_name("best"))["best_metric"]
    args = config.parse_args(tiny_argv(tmp_path, "--checkpoint_dir", str(first), "--max_steps", "3",
                                       "--load_checkpoint", "auto"))
    assert session.setup(args).best_metric == best
    second = tmp_path / "phase2"
    args = config.parse_args(tiny_argv(tmp_path, "--checkpoint_dir", str(second), "--max_steps", "3",
                                       "--load_checkpoint", str(first / checkpoint_name("best"))))
    s = session.setup(args)
    assert s.best_metric is None
    assert trainer.train(s) == 0
    assert (second / checkpoint_name("best")).is_file()


def test_resume_with_another_primary_metric_chooses_the_best_afresh(tmp_path, fake, capsys):
    """A best score of another metric (an old run selecting by reconstruction MSE) cannot rank prediction
    PSNR, the default: the resumed run starts its best anew and stores the best prediction PSNR."""
    run = tmp_path / "run"
    old = tiny_argv(tmp_path, "--max_steps", "2", "--val_primary_metric", "avg_val_recon_mse")
    assert trainer.run(config.parse_args(old)) == 0
    assert load_checkpoint(run / checkpoint_name("best"))["best_metric"] < 1  # an MSE
    s = session.setup(config.parse_args(tiny_argv(tmp_path, "--max_steps", "4", "--load_checkpoint", "auto")))
    assert s.best_metric is None and "chosen afresh" in capsys.readouterr().out
    assert trainer.train(s) == 0
    best = load_checkpoint(run / checkpoint_name("best"))
    scores = [r["val/pred_psnr"] for r in read_metrics(run) if r["step"] > 2 and "val/pred_psnr" in r]
    assert best["config"]["val_primary_metric"] == "pred_psnr"
    assert best["best_metric"] == pytest.approx(max(scores))


# ---------------------------------------------------------------- averaged weights
def test_averaged_weights_trail_the_model_and_start_from_a_checkpoint_without_them(tmp_path, fake, capsys):
    """Each step moves the average (1 − d_t) of the way to the model; a run resumed from a checkpoint that
    holds no average (written with --ema_decay 0) starts it from that checkpoint's model."""
    run = tmp_path / "run"
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, "--max_steps", "2", "--ema_decay", "0"))) == 0
    before = load_checkpoint(run / checkpoint_name("last"))
    assert before["ema"] is None
    resume = ("--max_steps", "3", "--load_checkpoint", "auto", "--ema_decay", "0.75")
    assert trainer.run(config.parse_args(tiny_argv(tmp_path, *resume))) == 0
    assert "holds no averaged weights" in capsys.readouterr().out
    after = load_checkpoint(run / checkpoint_name("last"))
    d = 3 / 12  # the warm-up's d_3 = 3 / (3 + 9), below --ema_decay
    for key, model_3 in after["model"].items():
        expected = d * before["model"][key] + (1 - d) * model_3
        torch.testing.assert_close(after["ema"][key], expected, atol=1e-6, rtol=0, msg=key)
    assert any(not torch.equal(after["ema"][k], after["model"][k]) for k in after["model"])


def test_validation_scores_the_averaged_weights(tmp_path, monkeypatch):
    """The real model starts as an exact copy of the last frame; with a decay this close to 1 (warm-up
    off) the average is still the start after two steps, so validation scores copy-last, while the raw
    weights moved."""
    monkeypatch.setattr(ema, "decay_at", lambda decay, step: decay)
    tiny = ("--gaad_num_regions", "3", "--gen_base_channels", "8", "--disc_base_disc_channels", "8",
            "--max_steps", "3")
    scores = {}
    for decay in ("0.999999", "0"):
        folder = tmp_path / f"ema{decay}"
        argv = tiny_argv(tmp_path, *tiny, "--checkpoint_dir", str(folder), "--ema_decay", decay)
        assert trainer.run(config.parse_args(argv)) == 0
        scores[decay] = [r for r in read_metrics(folder) if "val/pred_psnr" in r][-1]
    averaged, raw = scores["0.999999"], scores["0"]
    assert abs(averaged["val/pred_psnr"] - averaged["val/copy_last_psnr"]) < 1e-4
    assert abs(raw["val/pred_psnr"] - raw["val/copy_last_psnr"]) > 1e-3


def test_ema_decay_outside_the_unit_interval_is_refused():
    with pytest.raises(SystemExit):
        config.parse_args(["--ema_decay", "1"])


def test_decay_warms_up_to_the_flag():
    assert [ema.decay_at(0.99, t) for t in (1, 9, 91)] == [0.1, 0.5, 0.91]
    assert ema.decay_at(0.99, 10_000) == 0.99 and ema.decay_at(0.5, 1) == 0.1
