"""Sample from a trained WuBuGAADHybridGen checkpoint (issue 5 item 8).

    python draftPY/wubugaad_sample.py --checkpoint RUN/wubugaad_hybridgen_ckpt_v01_best.pt \
        --mode predict --video clip.mp4 --num_samples 4 --output_dir samples_out

Modes (the checkpoint's stored config rebuilds the model):
- ``generate``: z sampled from the prior (seeded by ``--seed``; the learned prior p(z | context) or
  N(0, I)), with the context of ``--video`` clips when the model was trained with context frames
  (``num_input_frames > 0``), else from z alone;
- ``predict``: the continuation of ``--video`` clips from their context (z = the prior's mean);
- ``reconstruct``: ``--video`` clips through the posterior (z = μ).

``--num_samples`` clips are taken evenly spaced along the video. Writes ``{mode}_grid.png`` (one row per
clip: context | truth | output) and ``{mode}.{mp4|gif|png}`` (truth beside output over the whole clip) into
``--output_dir``. Exit codes: 0 done, 2 bad input (one ``error: ...`` line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.utils.data import default_collate  # noqa: E402
from wubugaad.data import datasets as data  # noqa: E402
from wubugaad.model import vaegan as model_lib  # noqa: E402
from wubugaad.model.motion import MissingWeightsError  # noqa: E402
from wubugaad.train import checkpoint, config  # noqa: E402
from wubugaad.train.validation import generate, prepare_batch, write_clip, write_grid  # noqa: E402

MODES = ("generate", "predict", "reconstruct")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint file (.pt) written by the trainer")
    p.add_argument("--mode", choices=MODES, default="generate", help="what to sample (see above)")
    p.add_argument("--video", default=None, help="video for predict/reconstruct (and generate's context)")
    p.add_argument("--num_samples", type=int, default=4, help="clips to produce (>= 1)")
    p.add_argument("--output_dir", default="wubugaad_samples", help="folder for the PNG grid and the clip")
    p.add_argument("--format", choices=("mp4", "gif", "png"), default="mp4", help="clip file format")
    p.add_argument("--seed", type=int, default=0, help="seed for z in generate mode")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    return p


def load(path: str, device: torch.device):
    """(model, training args) from a checkpoint; the frozen flow weights come from their usual source."""
    payload = checkpoint.load_checkpoint(path, map_location="cpu")
    args = config.args_from_config(payload.get("config") or {})
    model, _ = model_lib.build(args)
    missing, unexpected, mismatched = checkpoint.restore_model(model, payload.get("model"))
    if missing or unexpected or mismatched:
        raise checkpoint.CheckpointError(f"checkpoint '{path}' does not match the model its config builds "
                                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval(), args


def video_clips(args, video: str, count: int) -> dict:
    """``count`` clips of the training length, evenly spaced along ``video`` (one batch dict)."""
    args = argparse.Namespace(**{**vars(args), "video_data_path": video, "validation_video_path": None,
                                 "validation_split_fraction": 0.0})
    ds, _ = data.build_datasets(args)
    index = torch.linspace(0, len(ds) - 1, count).round().long().tolist()
    return default_collate([ds[i] for i in index])


def sample(opts: argparse.Namespace) -> Path:
    device = torch.device(opts.device)
    model, args = load(opts.checkpoint, device)
    n_in = args.num_input_frames
    if opts.mode != "generate" or n_in > 0:
        if not opts.video:
            raise ValueError(f"--mode {opts.mode} needs --video (a clip supplies the context frames)")
        clip, flow = prepare_batch(video_clips(args, opts.video, opts.num_samples), device)
    else:
        T = n_in + args.num_predict_frames
        clip = torch.zeros(opts.num_samples, T, args.num_channels, args.image_h, args.image_w, device=device)
        flow = None
    torch.manual_seed(opts.seed)  # generate mode draws z from the prior with the torch RNG
    with torch.no_grad():
        out = generate(model, clip, None, flow, mode=opts.mode)
    out_dir = Path(opts.output_dir)
    context, truth = clip[:, :n_in], clip[:, n_in:]
    rows = [context, out] if opts.mode == "generate" and n_in == 0 else [context, truth, out]
    write_grid(torch.cat(rows, dim=1), out_dir / f"{opts.mode}_grid.png")
    full = torch.cat([context, out], dim=1)
    # truth above output: (N, T, C, H, W) → (N, T, C, 2H, W); clips then tiled along the width
    side = full if opts.mode == "generate" and n_in == 0 else torch.cat([clip, full], dim=3)
    written = write_clip(torch.cat(list(side), dim=3), out_dir / opts.mode, opts.format)
    return written or out_dir


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    if opts.num_samples < 1:
        print("error: --num_samples must be >= 1", file=sys.stderr)
        return 2
    try:
        path = sample(opts)
    except (checkpoint.CheckpointError, data.DataError, MissingWeightsError, FileNotFoundError,
            ValueError) as err:
        print(f"error: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}",
              file=sys.stderr)
        return 2
    print(f"wrote {opts.mode} samples to {path.parent if path.suffix else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
