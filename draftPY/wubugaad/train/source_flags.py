"""Flags of the data sources: which one (`--dataset`) and the sizes of the generated ones (moving objects,
the demo stream). Video files have their own flags among the run flags (`--video_data_path` …)."""

from __future__ import annotations

import argparse

from wubugaad.data.demo_stream import NAME as DEMO_STREAM
from wubugaad.data.moving_objects import SOURCES as MOVING_SOURCES

__all__ = ["DATASETS", "add_source_flags"]

DATASETS = ("video", *MOVING_SOURCES, DEMO_STREAM)


def add_source_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("other data sources (generated sequences, fresh every epoch)")
    g.add_argument("--dataset", choices=DATASETS, default=None,
                   help="default: video when --video_data_path or --validation_video_path is given, else "
                        "demo_stream (the no-argument demo). video: --video_data_path; moving_fmnist / "
                        "moving_mnist: sequences of 2 moving 28x28 objects from idx files (64x64, 3.6 "
                        "px/frame, bouncing; use "
                        "--num_input_frames 10 --num_predict_frames 10 --num_channels 1 for the benchmark); "
                        "stochastic_moving_fmnist: the same, leaving each border in a new random "
                        "direction (several futures of one context are right); "
                        "demo_stream: demo-video scenes with more variety, a new one for every item")
    g.add_argument("--mnist_path", type=str, default=None,
                   help="folder with the idx files train-images-idx3-ubyte(.gz) and t10k-images-idx3-ubyte"
                        "(.gz) (default for moving_fmnist and its stochastic twin: /usr/share/datasets/"
                        "fashion-mnist, from `apt-get install dataset-fashion-mnist`; required for "
                        "moving_mnist)")
    g.add_argument("--moving_train_sequences", type=int, default=10000,
                   help="training sequences per epoch, drawn fresh each epoch (moving_* datasets)")
    g.add_argument("--moving_test_sequences", type=int, default=10000,
                   help="size of the fixed seed-0 test set used for validation, cached in --cache_dir "
                        "(10000 = the published protocol; fewer for CPU runs)")
    g.add_argument("--stream_train_scenes", type=int, default=128,
                   help="demo_stream: new scenes per epoch (every epoch draws new ones: 30 epochs see 3840)")
    g.add_argument("--stream_val_scenes", type=int, default=64, help="demo_stream: fixed validation scenes")
