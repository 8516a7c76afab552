"""Hyperbolic geometry: Poincaré-ball maps, SO(n) rotations and ball-valued parameters."""

from wubugaad.geometry import poincare
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.geometry.rotations import Rotation

__all__ = ["ManifoldParameter", "Rotation", "poincare"]
