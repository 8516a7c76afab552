"""Which optical flow the model reads: decided here once, from the model's settings.

The generator, the model's forward and both data sources (videos, moving objects) ask this module, so they
can never disagree about whether the loader computes flow, with which estimator, or for which pairs
(docs/ARCHITECTURE.md, "Motion").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wubugaad.data.flow import OPENCV_TYPES

__all__ = ["FlowReads", "flow_reads"]


@dataclass(frozen=True)
class FlowReads:
    """What the model reads of the flow of a clip's consecutive pairs.

    ``generator_prior``: the spatial generator starts its warp from the classical flow of the last context
    pair; ``generator_input``: its head reads a flow (that prior or the motion branch's);
    ``loader_method``: the OpenCV method the data loader computes (None: the loader computes no flow — RAFT
    runs inside the model, or nothing reads flow); ``loader_pairs``: the pair indices read from the loader's
    flow of a training clip (None: every pair).
    """

    generator_prior: bool
    generator_input: bool
    loader_method: str | None
    loader_pairs: tuple[int, ...] | None


def flow_reads(settings: Any) -> FlowReads:
    """The flow reads of a ``ModelConfig`` (or the parser's namespace, with ``generator_type`` resolved).

    The motion branch reads every pair (from the loader when its estimator is an OpenCV one). Otherwise
    only the spatial generator's prior reads flow — it needs the warp and two context frames — and only
    pair ``I−2`` (into the last of the ``I`` context frames), which a time reversal of the ``T``-frame clip
    (augmentation) turns into the original pair ``T−I``: sources that compute flow per item compute just
    those, the video cache computes every pair once per video.
    """
    I = int(settings.num_input_frames)
    T = I + int(settings.num_predict_frames)
    motion = bool(settings.use_wubu_motion_branch)
    warp = settings.generator_type == "spatial" and bool(settings.gen_use_warp)
    prior = warp and settings.gen_flow_prior != "none" and I >= 2
    if motion:
        kind = settings.optical_flow_net_type
        method, pairs = (kind if kind in OPENCV_TYPES else None), None
    elif prior:
        method = settings.gen_flow_prior if settings.gen_flow_prior in OPENCV_TYPES else None
        pairs = tuple(sorted({I - 2, T - I} & set(range(T - 1))))
    else:
        method, pairs = None, None
    return FlowReads(generator_prior=prior, generator_input=warp and (motion or prior),
                     loader_method=method, loader_pairs=pairs if method else None)
