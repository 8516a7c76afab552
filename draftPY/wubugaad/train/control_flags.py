"""Flags of the matched controls of the theory study (does the geometry earn its keep?): Euclidean twins of
the WuBu levels and control layouts of the GAAD boxes. Each default is the model itself; every other
choice is a control (docs/ARCHITECTURE.md, "WuBu nesting" and "GAAD"; the `theory` ablation preset)."""

from __future__ import annotations

import argparse

from wubugaad.gaad.controls import BOX_LAYOUTS
from wubugaad.wubu.maps import GEOMETRIES


def add_control_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("matched controls (the theory study)")
    g.add_argument("--wubu_geometry", choices=GEOMETRIES, default="poincare",
                   help="maps of every WuBu level (S, M and T): poincare (the model); euclidean_limit — the "
                        "same levels at curvature c → 0 (expmap0 = s·v, distance 2‖x − y‖; same parameters, "
                        "the curvature frozen and unread); euclidean_bounded — that limit with every point "
                        "clipped to the initial ball's radius 1/√c_init (bounded but flat). Ignored under "
                        "--wubu_replace_with_mlp")
    g.add_argument("--gaad_box_layout", choices=BOX_LAYOUTS, default="golden",
                   help="appearance regions: golden (the --gaad_decomposition_type set); grid — a "
                        "uniform grid of as many boxes with the same summed area; random — as many boxes of "
                        "that area at random places and aspects, re-drawn per clip (painted tokens follow; "
                        "the regional discriminator and motion GAAD keep the golden set)")
