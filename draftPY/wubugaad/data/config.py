"""`DataConfig`: every setting the data pipeline reads, by flag name, built once (docs/ARCHITECTURE.md,
"Configuration"). `DataConfig.from_args(namespace)` copies exactly these fields; the parser is the one
place their defaults live.
"""

from __future__ import annotations

from dataclasses import dataclass

from wubugaad.flagconfig import FlagConfig

__all__ = ["DataConfig"]


@dataclass(frozen=True)
class DataConfig(FlagConfig):
    # sources and the validation split
    video_data_path: str
    validation_video_path: str | None
    validation_split_fraction: float
    val_block_size: int
    # frames and clips
    image_h: int
    image_w: int
    num_channels: int
    num_input_frames: int
    num_predict_frames: int
    frame_skip: int
    resize_mode: str
    cache_dir: str
    min_decoded_fraction: float
    scene_cut_threshold: float
    # loading
    batch_size: int
    num_workers: int
    seed: int
