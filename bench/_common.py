"""Shared pieces of the bench scripts: import path, the named configurations, test videos, JSON output.

Every configuration is a list of training flags for ``wubugaad.config.parse_args``; the bench scripts add
their own run-control flags (steps, temp folders, no validation) after it, and argparse keeps the last
value of a repeated flag, so a configuration can be overridden from the bench command line.

``research`` / ``research-amp`` are read from the launcher itself (``run_vaegan.sh`` with ``DRY_RUN=true``),
so the benchmark always measures exactly what the v0.1 launcher would run; only paths, WandB, LPIPS,
AMP and the RAFT weights (random: same cost, no download) are set through its variables.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "draftPY") not in sys.path:
    sys.path.insert(0, str(REPO / "draftPY"))

FIXTURE = REPO / "tests" / "data" / "bbb_excerpt.mp4"
FIXTURE_VAL = REPO / "tests" / "data" / "bbb_excerpt_val.mp4"
LAUNCHER = REPO / "run_vaegan.sh"
NEVER = "1000000000"  # an interval no benchmark reaches

# cpu-small: the quick-demo defaults of the parser, at the size (widths stay the parser defaults).
CPU_SMALL = ["--image_h", "64", "--image_w", "64", "--num_input_frames", "4", "--num_predict_frames", "2",
             "--batch_size", "4", "--gaad_num_regions", "12"]
CPU_MOTION = ["--image_h", "128", "--image_w", "128", "--num_input_frames", "4", "--num_predict_frames", "2",
              "--batch_size", "4", "--gaad_num_regions", "12", "--use_wubu_motion_branch"]

CONFIGS = {
    "cpu-small": CPU_SMALL,
    "cpu-motion-dis": CPU_MOTION + ["--optical_flow_net_type", "dis"],
    # frozen like the research launcher (v0.1 froze RAFT too); random weights cost the same as pretrained
    "cpu-motion-raft": CPU_MOTION + ["--optical_flow_net_type", "raft_small", "--freeze_flow_net",
                                     "--optical_flow_random_init"],
    "research": None,      # from the launcher, see launcher_argv
    "research-amp": None,
}
ALIASES = {"cpu-motion": ["cpu-motion-dis", "cpu-motion-raft"]}
CUDA_ONLY = ("research-amp",)
# default (timed steps, warm-up steps) per configuration: enough steps for a stable median, short runs
DEFAULT_STEPS = {"cpu-small": (30, 5), "cpu-motion-dis": (12, 3), "cpu-motion-raft": (8, 2),
                 "research": (20, 5), "research-amp": (20, 5)}
# on the CPU the research configuration takes tens of seconds a step: a short run still names each part
CPU_STEPS = {"research": (2, 1)}


def expand(names: list[str]) -> list[str]:
    """Configuration names with aliases (``cpu-motion``) replaced by their members, order kept."""
    out = []
    for name in names:
        for member in ALIASES.get(name, [name]):
            if member not in CONFIGS:
                raise ValueError(f"--config {name!r} unknown; use one of "
                                 f"{', '.join([*CONFIGS, *ALIASES])}")
            if member not in out:
                out.append(member)
    return out


def launcher_argv(env: dict[str, str]) -> list[str]:
    """The training flags ``run_vaegan.sh`` builds under the variables ``env`` (its DRY_RUN line)."""
    full_env = {**os.environ, **env, "DRY_RUN": "true", "PAUSE_AT_END": "false", "NPROC_PER_NODE": "1"}
    done = subprocess.run(["bash", str(LAUNCHER)], env=full_env, capture_output=True, text=True, check=True)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("DRY_RUN:"))
    tokens = shlex.split(line[len("DRY_RUN:"):])
    entry = next(i for i, t in enumerate(tokens) if t.endswith("WuBuGAADHybridGen_v0.1.py"))
    return tokens[entry + 1:]


def config_argv(name: str, video: Path, work: Path) -> list[str]:
    """Training flags of configuration ``name`` reading ``video`` and writing under ``work``."""
    if CONFIGS[name] is not None:
        return [*CONFIGS[name], "--video_data_path", str(video)]
    env = {"VIDEO_DATA_PATH": str(video), "CHECKPOINT_OUTPUT_DIR": str(work / "ckpt"),
           "CACHE_DIR": str(work / "cache"), "WANDB_ENABLED": "false", "USE_LPIPS_FOR_VERIFICATION": "false",
           "LOAD_STRICT": "false", "USE_AMP": "true" if name == "research-amp" else "false",
           "AMP_DTYPE": "bf16", "EXTRA_ARGS": "--optical_flow_random_init"}
    return launcher_argv(env)


def run_control_argv(work: Path, max_steps: int) -> list[str]:
    """Flags that bound a benchmark run: temp outputs, no WandB, no periodic saves, no validation schedule."""
    return ["--checkpoint_dir", str(work / "ckpt"), "--cache_dir", str(work / "cache"),
            "--run_name", "bench", "--epochs", NEVER, "--max_steps", str(max_steps),
            "--save_interval", "0", "--val_interval", NEVER, "--sample_format", "png"]


def concat_video(src: Path, dst: Path, factor: int) -> int:
    """Write ``src``'s frames ``factor`` times in a row into ``dst`` (mp4v); returns the frame count."""
    import cv2
    from wubugaad.data.video_cache import decoded_frames

    frames = list(decoded_frames(src))
    if not frames:
        raise ValueError(f"--video {src}: no decodable frames")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    for _ in range(factor):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return len(frames) * factor


def machine() -> dict:
    """CPU model, core count and (when present) the GPU name, for the record."""
    import torch

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
    except OSError:
        pass
    info = {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def emit(record: dict) -> None:
    """One JSON line on stdout (the training's own console output goes to stderr)."""
    sys.__stdout__.write(json.dumps(record, sort_keys=False) + "\n")
    sys.__stdout__.flush()


def write_record(stem: Path, record: dict, table: str) -> None:
    """A benchmark's result: ``stem.json`` (the record) and ``stem.md`` (its table), the table also on
    stderr, the record as ``emit``'s JSON line."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table, file=sys.stderr)
    emit(record)


# the held-out synthetic setting: train on one generated demo video, validate on another (other shapes,
# colours, paths and background), both at the configuration's frame size
DEMO_TRAIN_SEED, DEMO_VAL_SEED = 1, 2
DEMO_TRAIN_FRAMES, DEMO_VAL_FRAMES = 600, 160


def demo_pair(folder: Path, width: int, height: int) -> tuple[Path, Path]:
    """Write (or reuse) the training and the held-out demo video in ``folder``; returns both paths."""
    from wubugaad.data.video_cache import make_demo_video

    out = []
    for seed, frames in ((DEMO_TRAIN_SEED, DEMO_TRAIN_FRAMES), (DEMO_VAL_SEED, DEMO_VAL_FRAMES)):
        path = folder / f"demo_seed{seed}_{width}x{height}.mp4"
        if not path.is_file():
            make_demo_video(path, frames, width, height, seed)
        out.append(path)
    return out[0], out[1]
