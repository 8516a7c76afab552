"""`ModelConfig`: every setting the network reads, by flag name, built once (docs/ARCHITECTURE.md,
"Configuration").

`ModelConfig.from_args(namespace)` copies exactly these fields from the parser's namespace (or from any
object that carries them); the parser is the one place their defaults live. The modules of this package take
a `ModelConfig` and read nothing else. `stack(key, input_dim)` gives the `StackConfig` of WuBu-S/M/T.
"""

from __future__ import annotations

from dataclasses import dataclass

from wubugaad.flagconfig import FlagConfig
from wubugaad.wubu.stack import StackConfig, stack_problems

__all__ = ["ModelConfig", "STACK_KEYS"]

STACK_KEYS = ("s", "m", "t")


@dataclass(frozen=True)
class ModelConfig(FlagConfig):
    # clip and latent
    image_h: int
    image_w: int
    num_channels: int
    num_input_frames: int
    num_predict_frames: int
    latent_dim: int
    latent_layout: str
    prior: str
    latent_map_channels: int
    lambda_recon_prior: float  # > 0: train also runs the prior-mean pass its loss term reads
    # GAAD regions and the appearance encoder
    gaad_num_regions: int
    gaad_decomposition_type: str
    gaad_min_size_px: int
    gaad_box_layout: str
    encoder_use_roi_align: bool
    encoder_shallow_cnn_channels: int
    encoder_roi_align_output_h: int
    encoder_roi_align_output_w: int
    encoder_pixel_patch_size: int
    encoder_initial_tangent_dim: int
    # motion branch and flow
    use_wubu_motion_branch: bool
    gaad_motion_num_regions: int
    gaad_motion_decomposition_type: str
    optical_flow_net_type: str
    optical_flow_weights: str | None
    freeze_flow_net: bool
    optical_flow_scale: float
    flow_stats_components: tuple[str, ...]
    # generator
    gen_base_channels: int
    gen_temporal_kernel_size: int
    gen_final_conv_kernel_spatial: int
    residual_generator: bool
    generator_type: str
    gen_use_warp: bool
    gen_use_gaad_paint: bool
    gen_rollout: bool
    gen_max_flow_px: float
    gen_mask_init_logit: float
    gen_flow_prior: str
    gen_extrapolate: bool
    gen_change_persistence: bool
    gen_flow_confidence: bool
    gen_copy_blend: bool
    gen_synthesis: bool
    # discriminator
    discriminator_type: str
    disc_apply_spectral_norm: bool
    disc_base_disc_channels: int
    disc_max_disc_channels: int
    disc_temporal_kernel_size: int
    disc_stem_stride: int
    disc_min_hidden_fc_dim: int
    disc_max_hidden_fc_dim: int
    disc_use_gaad_film_condition: bool
    disc_gaad_condition_dim_disc: int
    disc_patch_size: int
    disc_cnn_channels_2d: tuple[int, ...]
    # WuBu stacks: shared settings, then WuBu-S, WuBu-M, WuBu-T
    wubu_dropout: float
    wubu_replace_with_mlp: bool
    wubu_geometry: str
    wubu_t_num_heads: int
    wubu_s_num_levels: int
    wubu_s_hyperbolic_dims: tuple[int, ...]
    wubu_s_initial_curvatures: tuple[float, ...]
    wubu_s_use_rotation: bool
    wubu_s_phi_influence_curvature: bool
    wubu_s_phi_influence_rotation_init: bool
    wubu_s_boundary_points: int
    wubu_s_tangent_flow: bool
    wubu_s_ablate: tuple[str, ...]
    wubu_m_num_levels: int
    wubu_m_hyperbolic_dims: tuple[int, ...]
    wubu_m_initial_curvatures: tuple[float, ...]
    wubu_m_use_rotation: bool
    wubu_m_phi_influence_curvature: bool
    wubu_m_phi_influence_rotation_init: bool
    wubu_m_boundary_points: int
    wubu_m_tangent_flow: bool
    wubu_m_ablate: tuple[str, ...]
    wubu_t_num_levels: int
    wubu_t_hyperbolic_dims: tuple[int, ...]
    wubu_t_initial_curvatures: tuple[float, ...]
    wubu_t_use_rotation: bool
    wubu_t_phi_influence_curvature: bool
    wubu_t_phi_influence_rotation_init: bool
    wubu_t_boundary_points: int
    wubu_t_tangent_flow: bool
    wubu_t_ablate: tuple[str, ...]

    def stack_settings(self, key: str) -> dict:
        """The `--wubu_{key}_*` settings of stack `key` ∈ {"s", "m", "t"} under their `StackConfig` names."""
        if key not in STACK_KEYS:
            raise ValueError(f"stack key must be one of {STACK_KEYS}, got {key!r}")
        read = lambda suffix: getattr(self, f"wubu_{key}_{suffix}")  # noqa: E731
        return dict(
            name=f"wubu_{key}",
            num_levels=read("num_levels"),
            hyperbolic_dims=list(read("hyperbolic_dims")),
            initial_curvatures=[float(c) for c in read("initial_curvatures")],
            use_rotation=read("use_rotation"),
            phi_curvature=read("phi_influence_curvature"),
            phi_rotation_init=read("phi_influence_rotation_init"),
            dropout=self.wubu_dropout,
            boundary_points=read("boundary_points"),
            tangent_flow=read("tangent_flow"),
            temporal=key == "t",
            num_heads=self.wubu_t_num_heads,
            ablate=frozenset(read("ablate")),
            euclidean=self.wubu_replace_with_mlp,
            geometry=self.wubu_geometry,
        )

    def stack(self, key: str, input_dim: int) -> StackConfig:
        """`StackConfig` of stack `key` fed with `input_dim` features (raises `ValueError` when invalid)."""
        return StackConfig(input_dim=input_dim, **self.stack_settings(key))

    def stack_problems(self, key: str) -> list[str]:
        """The problems `stack(key, …)` would raise, one line each (see `wubu.stack.stack_problems`)."""
        s = self.stack_settings(key)
        return stack_problems(s["name"], s["num_levels"], s["hyperbolic_dims"], s["initial_curvatures"],
                              s["boundary_points"], s["dropout"], s["ablate"], s["temporal"], s["num_heads"])
