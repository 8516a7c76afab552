"""Sample from a trained WuBuGAADHybridGen checkpoint.

    python draftPY/wubugaad_sample.py --checkpoint RUN/wubugaad_hybridgen_ckpt_v01_best.pt \
        --mode generate --video clip.mp4 --num_clips 3 --num_samples 8 --num_frames 20 --output_dir out

Modes (the checkpoint's stored config rebuilds the model; its averaged weights are used when it holds
them, as in the trainer's validation, else its raw weights):
- ``generate``: ``--num_samples`` N futures of each of ``--num_clips`` contexts (clips of ``--video``),
  each drawn with the model's own noise (torch seeded by ``--seed``); a model trained without context
  frames (``num_input_frames`` 0) generates N videos from noise alone, no ``--video`` needed;
- ``predict``: the continuation of ``--video`` clips from their context (the prior's mean: deterministic);
- ``reconstruct``: ``--video`` clips through the posterior (z = μ).

``--num_frames K`` (generate, predict) rolls out K future frames, beyond the P the model was trained on:
its output is fed back as the next context and the model called again per chunk of P frames (the flow of
generated contexts measured as the data loader would). Clips (``--num_clips``; in predict/reconstruct
``--num_samples`` when ``--num_clips`` is not given, its earlier meaning) are taken evenly spaced along
the video, each once: a video with fewer clips gives all of them, and the output says so. The video is
decoded into ``--cache_dir`` (this machine's cache folder, not the one stored in the checkpoint).

Writes into ``--output_dir``: ``{mode}_grid.png`` and ``{mode}.{mp4|gif|png}``. Generate: the grid has one
band per context: its row ``truth`` (context | true future, grey past the clip's end) then rows ``s1`` …
``sN`` (context | sampled future), labelled on the left; the clip shows, frame by frame, one row per context
with truth then the N samples side by side. Predict/reconstruct: one row per clip, context | truth | output,
and truth above output in the clip. An MP4 that OpenCV cannot write (e.g. wider than MPEG-4 allows)
becomes a GIF, and the line printed at the end names the files really written. Exit codes: 0 done, 2 bad
input (checkpoint, video, output folder, device, options), 5 a file could not be written (disk full,
permissions) — one ``error: ...`` line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.utils.data import default_collate  # noqa: E402
from wubugaad.data import datasets as data  # noqa: E402
from wubugaad.data import video_cache  # noqa: E402
from wubugaad.model import vaegan as model_lib  # noqa: E402
from wubugaad.model.flow_reads import flow_reads  # noqa: E402
from wubugaad.model.motion import MissingWeightsError  # noqa: E402
from wubugaad.train import checkpoint, config, exits, sampling  # noqa: E402
from wubugaad.train.validation import generate, prepare_batch, write_clip, write_grid  # noqa: E402

MODES = ("generate", "predict", "reconstruct")
# every clip is sampled in one batch and tiled into one image: beyond this the memory, not the model, fails
MAX_SAMPLES = 1024
DEFAULT_CACHE_DIR = config.build_parser().get_default("cache_dir")  # the trainer's, relative to here


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint file (.pt) written by the trainer")
    p.add_argument("--mode", choices=MODES, default="generate", help="what to sample (see above)")
    p.add_argument("--video", default=None, help="video for predict/reconstruct (and generate's context)")
    p.add_argument("--num_samples", type=int, default=4,
                   help=f"generate: futures per context; predict/reconstruct: clips, unless --num_clips is "
                        f"given (1 to {MAX_SAMPLES})")
    p.add_argument("--num_clips", type=int, default=None,
                   help="contexts (clips of --video) to sample (default: 2 in generate, else --num_samples)")
    p.add_argument("--num_frames", type=int, default=None,
                   help="future frames per sample (default: the model's num_predict_frames; more rolls out "
                        "by feeding predictions back as context)")
    p.add_argument("--cache_dir", default=DEFAULT_CACHE_DIR,
                   help="folder for the decoded frames of --video (the trainer's default)")
    p.add_argument("--output_dir", default="wubugaad_samples", help="folder for the PNG grid and the clip")
    p.add_argument("--format", choices=("mp4", "gif", "png"), default="mp4", help="clip file format")
    p.add_argument("--seed", type=int, default=0, help="seed of the torch RNG the samples' noise comes from")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    return p


def load(path: str, device: torch.device, cache_dir: str = DEFAULT_CACHE_DIR):
    """(model, training args) from a checkpoint; the frozen flow weights come from their usual source.
    The args' cache folder is ``cache_dir``: the stored one is the training machine's."""
    payload = checkpoint.load_checkpoint(path, map_location="cpu")
    args = config.args_from_config(payload.get("config") or {})
    args.cache_dir = cache_dir
    model, _ = model_lib.build(args)
    state = payload.get("ema") or payload.get("model")  # the averaged weights, as validation scored them
    missing, unexpected, mismatched = checkpoint.restore_model(model, state)
    if missing or unexpected or mismatched:
        raise checkpoint.CheckpointError(f"checkpoint '{path}' does not match the model its config builds "
                                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval(), args


def check_video(args, video: str) -> None:
    """``DataError`` naming ``--video`` unless ``video`` holds a readable video long enough for one clip
    of the checkpoint's length (decoded into the training cache once; building the dataset reuses it)."""
    clip_len = args.num_input_frames + args.num_predict_frames
    span = (clip_len - 1) * args.frame_skip + 1
    if not Path(video).exists():
        raise data.DataError(f"--video: '{video}' does not exist (give a video file or a folder of videos)")
    videos = video_cache.find_videos(video)
    if not videos:
        raise data.DataError(f"--video: no video files ({', '.join(video_cache.VIDEO_EXTENSIONS)}) in "
                             f"'{video}'")
    counts = []
    for path in videos:
        try:
            counts.append(video_cache.ensure_cached(path, args.cache_dir, args.image_w, args.image_h,
                                                    args.num_channels, args.resize_mode,
                                                    args.min_decoded_fraction)[1])
        except data.DataError as err:
            raise data.DataError(f"--video: {err}") from err
    if max(counts) < span:
        raise data.DataError(f"--video: '{video}' is too short: {max(counts)} frames, but the checkpoint's "
                             f"clips need {span} ({args.num_input_frames} context + "
                             f"{args.num_predict_frames} predicted frames, frame_skip {args.frame_skip})")


def video_clips(args, video: str, count: int) -> dict:
    """``count`` clips of the checkpoint's length, evenly spaced along ``video`` (one batch dict); all of
    them, each once, when the video has fewer (a note says so)."""
    check_video(args, video)
    args = argparse.Namespace(**{**vars(args), "video_data_path": video, "validation_video_path": None,
                                 "validation_split_fraction": 0.0})
    ds, _ = data.build_datasets(args, flow=flow_reads(args).loader_method)
    if len(ds) < count:
        print(f"note: --video '{video}' has {len(ds)} clips of the checkpoint's length; sampling those "
              f"{len(ds)}, not {count}")
        count = len(ds)
    index = torch.linspace(0, len(ds) - 1, count).round().long().tolist()
    return default_collate([ds[i] for i in index])


def check_options(opts: argparse.Namespace) -> torch.device:
    """The device; ``ValueError`` naming the flag for a missing checkpoint, an output folder that cannot be
    made, or a device that does not exist here."""
    if not 1 <= opts.num_samples <= MAX_SAMPLES:
        raise ValueError(f"--num_samples must be between 1 and {MAX_SAMPLES} (got {opts.num_samples}): the "
                         f"clips are sampled in one batch and tiled into one image; run it several times "
                         f"with other --seed values for more")
    if opts.num_clips is not None and not 1 <= opts.num_clips * opts.num_samples <= MAX_SAMPLES:
        raise ValueError(f"--num_clips × --num_samples must be between 1 and {MAX_SAMPLES} (got "
                         f"{opts.num_clips} × {opts.num_samples}): every future is sampled in one batch")
    if opts.num_frames is not None and opts.num_frames < 1:
        raise ValueError(f"--num_frames must be >= 1 (got {opts.num_frames})")
    if opts.num_frames is not None and opts.mode == "reconstruct":
        raise ValueError("--num_frames applies to --mode generate and predict (reconstruct reads the "
                         "targets)")
    if not Path(opts.checkpoint).is_file():
        raise ValueError(f"--checkpoint: no checkpoint file at '{opts.checkpoint}' (give a .pt file written "
                         f"by the trainer)")
    try:
        device = torch.device(opts.device)
    except RuntimeError as err:
        raise ValueError(f"--device: '{opts.device}' is not a torch device (e.g. cpu, cuda, cuda:1)") from err
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"--device {opts.device}: no such CUDA GPU on this machine "
                         f"({torch.cuda.device_count()} found; use --device cpu)")
    out_dir = Path(opts.output_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise exits.OutputFolderError(f"--output_dir: cannot create '{out_dir}': {err.strerror} (a file is "
                                      f"in the way or the folder is not writable; choose another folder)"
                                      ) from err
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise exits.OutputFolderError(f"--output_dir: '{out_dir}' is not writable (choose another folder)")
    return device


def sample(opts: argparse.Namespace) -> list[Path]:
    """Write the grid and the clip; returns the paths really written."""
    device = check_options(opts)
    model, args = load(opts.checkpoint, device, opts.cache_dir)
    n_in, P = args.num_input_frames, args.num_predict_frames
    frames = opts.num_frames or P
    generating = opts.mode == "generate"
    count = opts.num_clips or (2 if generating else opts.num_samples)
    if generating and n_in == 0:
        shape = (1, 0, args.num_channels, args.image_h, args.image_w)
        clip, flow = torch.zeros(shape, device=device), None  # no context: the model reads no frame
    else:
        if not opts.video:
            raise ValueError(f"--mode {opts.mode} needs --video (a clip supplies the context frames)")
        clip, flow = prepare_batch(video_clips(args, opts.video, count), device)
    torch.manual_seed(opts.seed)  # generate mode draws its noise from the torch RNG
    method = flow_reads(args).loader_method
    if generating:
        return _write_generated(model, clip, flow, args, opts, frames, method)
    context = clip[:, :n_in]
    with torch.no_grad():
        if opts.mode == "reconstruct":
            out = generate(model, clip, None, flow, mode="reconstruct")
        else:
            out = sampling.rollout(model, context, flow, frames, P, "predict", method)
    truth = _truth(clip[:, n_in:], frames)
    out_dir = Path(opts.output_dir)
    grid = out_dir / f"{opts.mode}_grid.png"
    write_grid(torch.cat([context, truth, out], dim=1), grid)
    # truth above output: (N, T, C, 2H, W); clips then tiled along the width
    side = torch.cat([torch.cat([context, truth], 1), torch.cat([context, out], 1)], dim=3)
    return [grid, write_clip(torch.cat(list(side), dim=3), out_dir / opts.mode, opts.format)]


def _truth(future: torch.Tensor, frames: int) -> torch.Tensor:
    """The true future cut or padded (grey) to ``frames`` frames: a rollout runs past the clip's end."""
    return torch.cat([future, sampling.blank_like(future, max(frames - future.shape[1], 0))], 1)[:, :frames]


def _write_generated(model, clip, flow, args, opts, frames: int, method) -> list[Path]:
    """Generate mode: N futures per context in one batch per chunk, as a labelled grid and a tiled clip."""
    n_in, N = args.num_input_frames, opts.num_samples
    context = clip[:, :n_in]
    pairs = None if flow is None else flow[:, :max(n_in - 1, 0)]
    samples = sampling.sample_rows(model, context, pairs, N, frames, args.num_predict_frames, method)
    out_dir = Path(opts.output_dir)
    K = context.shape[0]
    rows = torch.cat([context.unsqueeze(1).expand(-1, N, -1, -1, -1, -1), samples], dim=2)  # (K, N, T', ...)
    if n_in > 0:  # a truth row above each context's samples
        truth = torch.cat([context, _truth(clip[:, n_in:], frames)], 1)
        rows = torch.cat([truth.unsqueeze(1), rows], dim=1)
    labels = [f"{f'c{k} ' if K > 1 else ''}{'truth' if n_in > 0 and q == 0 else f's{q + (n_in == 0)}'}"
              for k in range(K) for q in range(rows.shape[1])]
    grid = out_dir / "generate_grid.png"
    with exits.writing(grid):
        sampling.write_png(sampling.labelled_grid(rows.flatten(0, 1), labels), grid)
    clip_path = write_clip(sampling.tiled_frames(rows), out_dir / "generate", opts.format)
    print(f"generate: {K} context(s) x {N} samples of {frames} future frames; grid rows: "
          f"{', '.join(labels[:rows.shape[1]])}{' ...' if K > 1 else ''}")
    return [grid, clip_path]


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    try:
        written = sample(opts)
    except exits.OutputWriteError as err:
        print(f"error: {err}", file=sys.stderr)
        return exits.WRITE_FAILED
    except (checkpoint.CheckpointError, data.DataError, MissingWeightsError, FileNotFoundError,
            ValueError) as err:
        print(f"error: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}",
              file=sys.stderr)
        return exits.BAD_INPUT
    if written[1].suffix != "." + opts.format:
        print(f"note: OpenCV could not write this clip as {opts.format.upper()} (e.g. wider than MPEG-4 "
              f"allows); wrote a {written[1].suffix[1:].upper()} instead")
    print(f"wrote {opts.mode} samples: {written[0]} and {written[1]}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
