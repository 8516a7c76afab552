"""Checkpoints of earlier versions brought to today's layout, in one place: ``upgrade(payload)``.

Every reader of a checkpoint (resume, the sampler) gets its payload through ``checkpoint.load_checkpoint``,
which applies ``upgrade``; nothing else in the package knows an old layout. Each rule names the change it
undoes. The one translation left to the reader is an optimizer state saved before there were parameter
groups: regrouping it needs the live parameters (``optim.groups.regroup_flat_state``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from wubugaad.model.discriminator import stem_stride
from wubugaad.model.frame_latent import FrameLatent

__all__ = ["upgrade", "upgrade_config"]

# the optimizer of checkpoints written before there were two (their states carry no ``kind``)
FIRST_OPTIMIZER = "risgd"
# image size of a config that does not say (the parser's default then and now)
DEFAULT_SIZE = 64


def upgrade_config(config: Mapping) -> dict:
    """A saved resolved config with every setting that changed meaning since made explicit, so that
    today's defaults overlaid by it rebuild the network the checkpoint holds (a new dict)."""
    config = dict(config)
    # written before the spatial generator existed: the global one
    config.setdefault("generator_type", "global")
    # written while video was the only source and the default one
    config.setdefault("dataset", "video")
    if "optical_flow_scale" not in config and config.get("disc_stem_stride", 0) == 0:
        # written before the automatic D stem grew to stride 8 at 256 px: its D was built with 4 there
        h, w = config.get("image_h", DEFAULT_SIZE), config.get("image_w", DEFAULT_SIZE)
        config["disc_stem_stride"] = min(stem_stride(h, w, 0), 4)
    if "gen_flow_prior" not in config:
        # written before the flow prior existed: its generator has no prior gate, nor the extrapolation
        config["gen_flow_prior"] = "none"
        config["gen_extrapolate"] = False
    # written before the synthesis became optional: its head always blends one in
    config.setdefault("gen_synthesis", True)
    # written before the spatial latent existed: only the vector z
    config.setdefault("latent_map_channels", 0)
    # written before the rollout existed: its head predicts all target frames in one pass
    config.setdefault("gen_rollout", False)
    # written before the prior's per-pixel confidence existed (and was on by default): its head has none
    config.setdefault("gen_flow_confidence", False)
    # written before the grid latent existed: the per-frame code was one vector
    config.setdefault("latent_layout", "vector")
    # written before the prior-mean pass existed: a loss weight, not a weight of the network
    config.setdefault("lambda_recon_prior", 0.0)
    # written before the persistence of the change was estimated: the whole last change was continued
    config.setdefault("gen_change_persistence", False)
    # written before the copy blend existed: its head has no such channel
    config.setdefault("gen_copy_blend", False)
    return config


def _frame_latent_state(state: Mapping, config: Mapping) -> dict:
    """A spatial generator's state written with the clip-level z (before the per-frame latent) in
    today's layout, exact at the prior's mean: the clip-level posterior (and learned prior) heads go; the
    per-frame heads join at their init (drawn from a fixed seed; the prior's output layer is 0, so μ_p = 0
    is the z = 0 the old predict used); the joint pass's condition and tile read P codes where they read
    one (zero columns for the others); the synthesis residual, one map per frame before, keeps frame 1's
    (all of them are 0 at z = 0)."""
    h_dim = state["posterior.weight"].shape[1]  # the context code's width: what the clip-level head read
    state = {k: v for k, v in state.items() if not k.startswith(("posterior.", "prior_head."))}
    old = state.get("generator.body.z_tile.weight")
    if old is None:
        return state
    width, d = old.shape
    P, I = int(config["num_predict_frames"]), int(config["num_input_frames"])
    frames = 1 if config.get("gen_rollout", False) else P
    if frames > 1:  # joint pass: [z ; h ; a] → [z_1 … z_P ; h ; a]
        for key in [k for k in state if k.endswith(".film.weight")] + ["generator.body.z_tile.weight"]:
            w = state[key]
            state[key] = torch.cat([w[:, :d], w.new_zeros(w.shape[0], (frames - 1) * d), w[:, d:]], dim=1)
    residual = state.get("generator.latent_residual.weight")
    if residual is not None and residual.shape[0] % P == 0 and P > 1:
        state["generator.latent_residual.weight"] = residual.view(P, -1, d)[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        heads = FrameLatent(width, I, h_dim, d, frames).to(old)
    state.update({f"generator.frame_latent.{k}": v for k, v in heads.state_dict().items()})
    return state


def _optimizer_state(state: Mapping | None) -> tuple[dict | None, dict | None]:
    """(the optimizer state with its kind, the Q-controller state it carried or None)."""
    if state is None:
        return None, None
    state = dict(state)
    state.setdefault("kind", FIRST_OPTIMIZER)  # written while RiemannianEnhancedSGD was the only one
    # written while the Q-controller lived inside the optimizer
    return state, state.pop("q_controller", None)


def upgrade(payload: Mapping) -> dict:
    """A loaded checkpoint payload of any earlier layout in today's (a new dict; ``payload`` is left as
    is). Today's payloads come back equal to themselves."""
    payload = dict(payload)
    if payload.get("config") is not None:
        payload["config"] = upgrade_config(payload["config"])
    config = payload.get("config") or {}
    for key in ("model", "ema"):
        state = payload.get(key)
        if config.get("generator_type") == "spatial" and state and "posterior.weight" in state:
            payload[key] = _frame_latent_state(state, config)
    for short in ("g", "d"):
        state, q_state = _optimizer_state(payload.get(f"opt_{short}"))
        payload[f"opt_{short}"] = state
        if payload.get(f"q_controller_{short}") is None:
            payload[f"q_controller_{short}"] = q_state
    return payload
