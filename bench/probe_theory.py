"""Probes of the theory study (does the geometry earn its keep?), from trained checkpoints.

    python3 bench/probe_theory.py STUDY/runs/default/seed0/wubugaad_hybridgen_ckpt_v01_best.pt \\
        STUDY/runs/euclidean_limit/seed0/wubugaad_hybridgen_ckpt_v01_best.pt --out probes --clips 1000

Each checkpoint is rebuilt from its stored config (averaged weights when it holds them, as validation
scores them) and probed on its run's own validation clips (the run's data paths, as stored; run from the
folder the run was started in when they are relative). Statistics: ``_theory_stats.py``.

- uncertainty: per clip, the context-code radius (distance from the origin of the deepest WuBu-T level's
  point at the last context frame, in that level's own geometry) against the prediction's MSE: Spearman ρ
  and the AUROC of ``−radius`` for the worst decile, with 95 % bootstrap intervals;
- bounces (moving-object runs): the mean deepest WuBu-T radius at frames −2 … +2 around the fixed test
  set's known bounces (``moving_objects.held_out_positions``), beside the mean over all frames;
- hierarchy: Fashion-MNIST test images (``--fmnist``, default the run's --mnist_path for moving_fmnist),
  each alone at the centre of a frame → the pooled WuBu-S code (width = the last WuBu-S dim) → held-out
  accuracy of linear probes for the 10 classes and 4 coarse groups (tops, trousers and dresses, footwear,
  bags);
- δ: Khrulkov's relative δ of the deepest WuBu-S level's points of the last context frame's region tokens,
  under that level's distance;
- cost: mean s/step and non-finite skipped steps from the run folder's metrics.jsonl; measured here on one
  validation batch, a training-mode forward and backward: peak memory (CUDA, else the process's peak RSS)
  and the number of operations that compute in float64.

A probe a checkpoint cannot answer is null with the reason (no ball: --wubu_replace_with_mlp or stacks
off; no Fashion-MNIST files). Writes ``theory_probes.json`` and ``theory_probes.md`` into ``--out``; prints
the JSON. Rows name each run's --wubu_geometry, --gaad_box_layout and WuBu-S width, so a hyperbolic row
reads against its Euclidean twin. Exit codes: 0 done; 2 bad input (a checkpoint, data or folder).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
from pathlib import Path

import _common  # noqa: F401  (puts draftPY on the import path first)
import _theory_stats as ts
import numpy as np
import torch
import wubugaad_sample
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.data import DataLoader, Subset
from wubugaad.data import datasets as data
from wubugaad.data import moving_objects
from wubugaad.train import config
from wubugaad.train.validation import prepare_batch

# Fashion-MNIST class → coarse group: 0 tops, 1 trousers and dresses, 2 footwear, 3 bags
COARSE_GROUP = np.array([0, 1, 0, 1, 0, 2, 0, 2, 3, 2])
LABEL_FILE, IMAGE_FILE = "t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte"
IDX_LABEL_MAGIC = 0x00000801
BOUNCE_OFFSETS = range(-2, 3)


class ProbeError(ValueError):
    """Input the probe cannot use (the message names it and the fix); exit code 2."""


class _Float64Ops(TorchDispatchMode):
    """Counts the operations whose outputs are float64 while active."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.count += any(isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in tree_leaves(out))
        return out


def deepest_ball_level(stack):
    """The last level that computes a point (its point is the last of `return_points`), or None."""
    levels = [level for level in getattr(stack, "levels", []) if level.parts.kernel and level.parts.ball]
    return levels[-1] if levels else None


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise ProbeError(f"no {name}(.gz) in {folder}: give --fmnist the Fashion-MNIST idx folder")


def read_idx_labels(path: Path) -> np.ndarray:
    """Labels (N,) uint8 from an idx1-ubyte file, gzip-compressed or not."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    header = np.frombuffer(raw[:8], dtype=">u4")
    if header.shape[0] != 2 or int(header[0]) != IDX_LABEL_MAGIC or len(raw) - 8 != int(header[1]):
        raise ProbeError(f"{path} is not an idx1-ubyte label file (bad header or length)")
    return np.frombuffer(raw, dtype=np.uint8, offset=8)


def validation_set(args):
    """The run's validation clips: the held-out video windows or the fixed moving-object test set."""
    if args.dataset == "video":
        val = data.build_datasets(args, 0, 1)[1]
    else:
        val = moving_objects.build_datasets(config.moving_objects_config(args))[1]
    if val is None or len(val) == 0:
        raise ProbeError("the run has no validation clips (give it --validation_video_path or a "
                         "--validation_split_fraction above 0 and retrain, or probe another run)")
    return val


@torch.no_grad()
def collect(model, loader, num_input: int, device) -> dict[str, np.ndarray | torch.Tensor | None]:
    """Per clip: context radius, radius at every frame, prediction MSE, index; region points of the last
    context frame (deepest WuBu-S level). Radii are None without a WuBu-T ball, points without a WuBu-S
    one."""
    enc = model.encoder
    app = enc.appearance
    level_t, level_s = deepest_ball_level(enc.wubu_t), deepest_ball_level(app.wubu_s)
    radii, errors, indices, regions = [], [], [], []
    for batch in loader:
        clip, flow = prepare_batch(batch, device)
        B, T = clip.shape[:2]
        # the encoder's own steps, keeping the level points it does not hand out
        raw = app.tokenizer(clip.flatten(0, 1), app.frame_boxes(B, T, flow))
        tokens, s_points = app.wubu_s(raw, return_points=True)
        a = app.pool(tokens).view(B, T, -1)
        seq = a if enc.motion is None else torch.cat([a, enc.motion(flow)], dim=-1)
        _, t_points = enc.wubu_t(seq, return_points=True)
        if level_t is not None:
            radii.append(level_t.radius(t_points[-1]).float().cpu())  # (B, T): causal, frame t reads ≤ t
        if level_s is not None:
            regions.append(s_points[-1].view(B, T, *s_points[-1].shape[1:])[:, num_input - 1].flatten(0, 1))
        pred = model(clip, mode="predict", flow=flow).prediction.float().clamp(-1, 1)
        errors.append((pred - clip[:, num_input:].float()).pow(2).flatten(1).mean(dim=1).cpu())
        indices.append(torch.as_tensor(batch.get("index", torch.full((B,), -1))))
    radius_all = torch.cat(radii).numpy() if radii else None
    return {"radius_all": radius_all, "radius": None if radius_all is None else radius_all[:, num_input - 1],
            "error": torch.cat(errors).numpy(), "index": torch.cat(indices).numpy(),
            "regions": torch.cat(regions) if regions else None, "level_s": level_s}


def bounce_profile(radius_all: np.ndarray, positions: np.ndarray) -> dict:
    """Mean radius at frame offsets around every bounce: radius (S, T), positions (S, K, T, 2) in [0, 1]."""
    bounce = ((positions <= 0.0) | (positions >= 1.0)).any(axis=(1, 3))  # (S, T)
    s, t = np.nonzero(bounce)
    T = radius_all.shape[1]
    means, counts = [], []
    for k in BOUNCE_OFFSETS:
        valid = (t + k >= 0) & (t + k < T)
        counts.append(int(valid.sum()))
        means.append(float(radius_all[s[valid], t[valid] + k].mean()) if valid.any() else None)
    return {"offsets": list(BOUNCE_OFFSETS), "mean_radius": means, "bounces": counts,
            "mean_radius_all_frames": float(radius_all.mean())}


@torch.no_grad()
def appearance_codes(model, images: np.ndarray, args, device, batch: int = 256) -> torch.Tensor:
    """Pooled WuBu-S codes (N, D) of `images` (N, h, w) uint8, each alone at the centre of a frame."""
    H, W, C = args.image_h, args.image_w, args.num_channels
    h, w = images.shape[1:]
    if h > H or w > W:
        raise ProbeError(f"{h}×{w} images do not fit the run's {H}×{W} frames")
    canvas = np.zeros((images.shape[0], H, W), dtype=np.uint8)
    canvas[:, (H - h) // 2:(H - h) // 2 + h, (W - w) // 2:(W - w) // 2 + w] = images
    frames = torch.from_numpy(canvas)[:, None, None].expand(-1, 1, C, -1, -1)  # (N, T=1, C, H, W)
    codes = [model.encoder.appearance(data.frames_to_model(part.to(device)))[0][:, 0].float().cpu()
             for part in frames.split(batch)]
    return torch.cat(codes)


def hierarchy(model, args, images: np.ndarray, labels: np.ndarray, device) -> dict:
    """Held-out linear-probe accuracy on the pooled WuBu-S codes for the classes and the coarse groups."""
    codes = appearance_codes(model, images, args, device).numpy()
    return {"width": int(codes.shape[1]), "images": int(codes.shape[0]),
            "fine_accuracy": ts.linear_probe(codes, labels), "coarse_accuracy": ts.linear_probe(
                codes, COARSE_GROUP[labels])}


def region_delta(regions: torch.Tensor, level, sample: int) -> dict:
    """Relative δ of the region points under their level's own distance."""
    pick = torch.randperm(regions.shape[0], generator=torch.Generator().manual_seed(0))[:sample]
    x = regions[pick]
    with torch.no_grad():
        dist = level.maps.dist(x[:, None], x[None, :], level.map_curvature()).float().cpu()
    return ts.relative_delta(dist, sample=sample)


def cost(model, batch, run_folder: Path, device) -> dict:
    """Step time and non-finite steps from the run's metrics; memory and float64 ops of one step here."""
    out: dict = {"seconds_per_step": None, "nonfinite_skipped": None}
    path = run_folder / "metrics.jsonl"
    if path.exists():
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        steps = [r["train/seconds_per_step"] for r in records if "train/seconds_per_step" in r]
        skipped = [r["train/nonfinite_skipped"] for r in records if "train/nonfinite_skipped" in r]
        out["seconds_per_step"] = float(np.mean(steps)) if steps else None
        out["nonfinite_skipped"] = int(skipped[-1]) if skipped else None
    clip, flow = prepare_batch(batch, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    counter = _Float64Ops()
    with counter:
        model(clip, mode="train", flow=flow).prediction.float().square().mean().backward()
    model.zero_grad(set_to_none=True)
    model.eval()
    out["float64_ops"] = counter.count
    if device.type == "cuda":
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        out["process_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def fmnist_folder(args, given: str | None) -> Path | None:
    if given:
        return Path(given)
    if args.dataset == "moving_fmnist":
        return Path(args.mnist_path or moving_objects.SOURCES["moving_fmnist"][0])
    return None


def probe(path: Path, opts, device) -> dict:
    """Every probe of one checkpoint (module docstring)."""
    try:
        model, args = wubugaad_sample.load(str(path), device)
    except Exception as err:  # a missing, truncated or foreign file: one clear line
        raise ProbeError(f"cannot load checkpoint {path}: {err}") from err
    I = args.num_input_frames
    if I < 1:
        raise ProbeError(f"{path}: the probes need a model with context frames (num_input_frames >= 1)")
    val = validation_set(args)
    clips = Subset(val, range(min(opts.clips, len(val))))
    loader = DataLoader(clips, batch_size=args.batch_size, shuffle=False, num_workers=0)
    found = collect(model, loader, I, device)
    row = {"checkpoint": str(path), "wubu_geometry": getattr(args, "wubu_geometry", "poincare"),
           "gaad_box_layout": getattr(args, "gaad_box_layout", "golden"),
           "mlp_stacks": bool(args.wubu_replace_with_mlp), "wubu_s_width": int(model.encoder.appearance_dim)}
    no_ball = "no WuBu ball (plain MLP or stacks off)"
    row["uncertainty"] = (ts.uncertainty(found["radius"], found["error"], opts.bootstrap)
                          if found["radius"] is not None else {"skipped": no_ball})
    row["bounces"] = None
    if args.dataset != "video" and found["radius_all"] is not None:
        positions = moving_objects.held_out_positions(config.moving_objects_config(args), found["index"])
        row["bounces"] = bounce_profile(found["radius_all"], positions)
    row["delta"] = (region_delta(found["regions"], found["level_s"], opts.delta_points)
                    if found["regions"] is not None else {"skipped": no_ball})
    folder = fmnist_folder(args, opts.fmnist)
    if folder is None:
        row["hierarchy"] = {"skipped": "no Fashion-MNIST: give --fmnist DIR"}
    elif model.encoder.appearance.adaptive:
        row["hierarchy"] = {"skipped": "motion-adaptive boxes need flow, which a still image has not"}
    else:
        images = moving_objects.read_idx_images(_find(folder, IMAGE_FILE))[:opts.images]
        labels = read_idx_labels(_find(folder, LABEL_FILE))[:opts.images]
        row["hierarchy"] = hierarchy(model, args, images, labels.astype(np.int64), device)
    row["cost"] = cost(model, next(iter(loader)), path.parent, device)
    return row


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    lines = ["| run | geometry | boxes | S width | Spearman ρ [95 %] | AUROC worst 10 % [95 %] | δ_rel | "
             "fine acc | coarse acc | s/step | float64 ops |", "|" + "---|" * 11]
    for r in rows:
        u, h, d, c = r["uncertainty"], r["hierarchy"], r["delta"], r["cost"]
        corr = "–" if "skipped" in u else (f"{u['spearman']['value']:+.3f} [{u['spearman']['ci95'][0]:+.3f}, "
                                            f"{u['spearman']['ci95'][1]:+.3f}]")
        area = "–" if "skipped" in u else (f"{u['auroc_worst_decile']['value']:.3f} "
                                            f"[{u['auroc_worst_decile']['ci95'][0]:.3f}, "
                                            f"{u['auroc_worst_decile']['ci95'][1]:.3f}]")
        geometry = "mlp" if r["mlp_stacks"] else r["wubu_geometry"]
        lines.append(f"| {Path(r['checkpoint']).parent.name} | {geometry} | {r['gaad_box_layout']} | "
                     f"{r['wubu_s_width']} | {corr} | {area} | {_fmt(d.get('delta_rel'))} | "
                     f"{_fmt(h.get('fine_accuracy'))} | {_fmt(h.get('coarse_accuracy'))} | "
                     f"{_fmt(c['seconds_per_step'])} | {c['float64_ops']} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoint files (.pt) written by the trainer")
    p.add_argument("--out", default="theory_probes", help="folder for theory_probes.json and .md")
    p.add_argument("--clips", type=int, default=1000, help="validation clips per checkpoint, at most")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the intervals")
    p.add_argument("--delta_points", type=int, default=200, help="region points per δ subsample")
    p.add_argument("--fmnist", default=None, help="Fashion-MNIST idx folder for the hierarchy probe")
    p.add_argument("--images", type=int, default=5000, help="Fashion-MNIST test images probed, at most")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    return p


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    if min(opts.clips, opts.bootstrap, opts.images) < 1 or opts.delta_points < 4:
        print("error: --clips, --bootstrap and --images must be >= 1 and --delta_points >= 4",
              file=sys.stderr)
        return 2
    device = torch.device(opts.device)
    try:
        rows = [probe(Path(path), opts, device) for path in opts.checkpoints]
    except (ProbeError, data.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "theory_probes.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    (out / "theory_probes.md").write_text(markdown(rows), encoding="utf-8")
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
