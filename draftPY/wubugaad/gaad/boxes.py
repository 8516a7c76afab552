"""Golden-Aspect Adaptive Decomposition (GAAD): region boxes for a frame (docs/ARCHITECTURE.md, "GAAD").

Pixel coordinates, x right, y down, boxes ``[x1, y1, x2, y2]`` in a frame ``(W, H)`` whose full box is
``[0, 0, W, H]``; ``φ = (1 + √5) / 2``.

* Golden subdivision: breadth-first cuts of the full frame. A landscape rectangle (``w > h``) is cut
  vertically at ``x1 + w/φ`` into a left child ``w/φ × h`` and a right child ``w/φ² × h``; a portrait one
  horizontally at ``y1 + h/φ``; a square (only when ``w > min_size·φ``) vertically. Since
  ``1/φ + 1/φ² = 1`` the children tile the parent and have areas ``A·φ^{-1}`` and ``A·φ^{-2}``, so every box
  has area ``W·H·φ^{-k}`` with an integer ``k`` tracked exactly. Boxes are sorted by ``k`` (largest area
  first), ties by breadth-first creation order, which is invariant to scaling and transposes with the frame.
* φ-spiral: centre box (scale 0.25) then ``N−1`` points on ``r = a·e^{bθ}``, ``b = ln φ / (π/2)``,
  ``a = 0.05·m`` with ``m = min(W, H)``. Angular rule (points never reach the border): the largest radius is
  ``r_max = 0.95 · m/2`` (95 % of the inscribed circle), i.e. ``θ_max = ln(r_max / a) / b``, and the
  ``N−1`` points sit at ``θ_i = θ_max · i / (N−1)``, ``i = 1..N−1``. Every centre is therefore inside the
  inscribed circle, distinct centres give distinct boxes for any ``N``. Patch side is
  ``max(0.05, 0.2·e^{−5r/m}) · m`` (foveated), clamped (shifted) into the frame. The spiral turns with
  ``(cos θ, sin θ)`` for ``W ≥ H`` and ``(sin θ, cos θ)`` for portrait frames so that transposing a
  non-square frame transposes its boxes.
* Hybrid: ``N//2`` subdivision boxes then ``N − N//2`` spiral boxes.
* Motion-adaptive: ``N//2`` cells of a deeper static golden tree (depth 8) chosen per sample by their mean
  motion energy (integral image + ``topk``), then ``N − N//2`` spiral boxes whose template is shifted to
  each sample's (box-smoothed) energy peak. Loop-free over the batch, no host syncs.

Static box sets are built host-side once and cached per ``(W, H, N, kind, min_size, device)``.

Box masks (``box_masks``): the fraction of each cell of an ``h × w`` grid over the frame that a box covers,
``(…, N, h, w)``, separable in x and y, so per-sample boxes get their masks without loops; masks of static
sets are cached (``cached_box_masks``).
"""

from __future__ import annotations

import functools
import math
from collections import deque

import torch
import torch.nn.functional as F

from wubugaad.geometry.golden import PHI

SPIRAL_B = math.log(PHI) / (math.pi / 2.0)  # r grows by φ per quarter turn
SUBDIVISION_DEPTH = 6
MOTION_CANDIDATE_DEPTH = 8
BOX_KINDS = ("subdivide", "spiral", "hybrid")  # static box sets (cached per frame size)
# what a configuration may name: a static set, or boxes placed per frame by motion energy
DECOMPOSITION_TYPES = (*BOX_KINDS, "motion_adaptive")


def _check_size(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number (got {value!r}); give it in pixels")
    return float(value)


def _check_count(N) -> int:
    if isinstance(N, bool) or not isinstance(N, int) or N < 1:
        raise ValueError(f"N (number of GAAD regions) must be an integer >= 1 (got {N!r}); e.g. N=12")
    return N


# ---------------------------------------------------------------------------------------------------------
# Golden subdivision (host-side, float64)
# ---------------------------------------------------------------------------------------------------------
def _cut(box: tuple[float, float, float, float], min_size: float, tol: float):
    """Children ``[(box, Δk), ...]`` of one golden cut; Δk = 1 for the w/φ (or h/φ) child, 2 for the other.

    ``tol`` (a tiny fraction of the frame size) absorbs float rounding: square frames contain exact
    sub-squares, whose computed sides may differ in the last bit, and scaling must not flip a decision.
    """
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if w > h + tol or (abs(w - h) <= tol and w > min_size * PHI):
        cut = x1 + w / PHI
        children = [((x1, y1, cut, y2), 1), ((cut, y1, x2, y2), 2)]
    elif h > w + tol:
        cut = y1 + h / PHI
        children = [((x1, y1, x2, cut), 1), ((x1, cut, x2, y2), 2)]
    else:
        return []
    return [(c, dk) for c, dk in children if c[2] - c[0] >= min_size - tol and c[3] - c[1] >= min_size - tol]


def _golden_tree(W: float, H: float, min_size: float, max_depth: int, max_count: int):
    """Breadth-first golden tree → list of ``(k, box)`` in creation order (root first, at most max_count)."""
    root = (0.0, 0.0, W, H)
    scale = max(W, H)
    tol = 1e-9 * scale
    seen = {tuple(round(v / scale, 9) for v in root)}
    out = [(0, root)]
    frontier = deque([(root, 0, 0)])  # (box, depth, k)
    while frontier and len(out) < max_count:
        box, depth, k = frontier.popleft()
        if depth >= max_depth:
            continue
        for child, dk in _cut(box, min_size, tol):
            key = tuple(round(v / scale, 9) for v in child)
            if len(out) >= max_count or key in seen:
                continue
            seen.add(key)
            out.append((k + dk, child))
            frontier.append((child, depth + 1, k + dk))
    return out


def _subdivide_list(W: float, H: float, N: int, min_size: float) -> list[tuple[float, ...]]:
    tree = _golden_tree(W, H, min_size, SUBDIVISION_DEPTH, 3 * N)
    # stable sort on k keeps breadth-first order among equal areas
    boxes = [box for _, box in sorted(tree, key=lambda kb: kb[0])][:N]
    return boxes + [boxes[-1]] * (N - len(boxes))


def golden_subdivide(W, H, N: int, min_size) -> torch.Tensor:
    """Golden-ratio subdivision boxes, (N, 4) float32; box 0 is the full frame, areas ``W·H·φ^{-k}``."""
    W, H, min_size = _check_size("W", W), _check_size("H", H), _check_size("min_size", min_size)
    N = _check_count(N)
    return torch.tensor(_subdivide_list(W, H, N, min_size), dtype=torch.float32)


# ---------------------------------------------------------------------------------------------------------
# φ-spiral (host-side, float64)
# ---------------------------------------------------------------------------------------------------------
def _spiral_list(W: float, H: float, N: int) -> list[tuple[float, ...]]:
    m = min(W, H)
    a = 0.05 * m
    theta_max = math.log(0.95 * 0.5 * m / a) / SPIRAL_B
    thetas = [theta_max * i / (N - 1) for i in range(1, N)]
    # (r, θ, scale): centre box first, then the foveated spiral points
    points = [(0.0, 0.0, 0.25)] + [
        (r, t, max(0.05, 0.2 * math.exp(-5.0 * r / m))) for t in thetas for r in [a * math.exp(SPIRAL_B * t)]
    ]
    boxes = []
    for r, theta, scale in points:
        du, dv = r * math.cos(theta), r * math.sin(theta)
        dx, dy = (du, dv) if W >= H else (dv, du)  # transpose-equivariant orientation
        side = scale * m
        x1 = min(max(W / 2.0 + dx - side / 2.0, 0.0), W - side)
        y1 = min(max(H / 2.0 + dy - side / 2.0, 0.0), H - side)
        boxes.append((x1, y1, x1 + side, y1 + side))
    return boxes


def phi_spiral_boxes(W, H, N: int) -> torch.Tensor:
    """φ-spiral boxes, (N, 4) float32: centre patch then N−1 foveated patches along the golden spiral."""
    W, H = _check_size("W", W), _check_size("H", H)
    N = _check_count(N)
    return torch.tensor(_spiral_list(W, H, N), dtype=torch.float32)


def _hybrid_list(W: float, H: float, N: int, min_size: float) -> list[tuple[float, ...]]:
    sub = _subdivide_list(W, H, N // 2, min_size) if N // 2 > 0 else []
    return sub + _spiral_list(W, H, N - N // 2)


def hybrid_boxes(W, H, N: int, min_size) -> torch.Tensor:
    """``N//2`` golden-subdivision boxes followed by ``N − N//2`` φ-spiral boxes, (N, 4) float32."""
    W, H, min_size = _check_size("W", W), _check_size("H", H), _check_size("min_size", min_size)
    N = _check_count(N)
    return torch.tensor(_hybrid_list(W, H, N, min_size), dtype=torch.float32)


@functools.lru_cache(maxsize=128)
def _cached(W: float, H: float, N: int, kind: str, min_size: float, device: torch.device) -> torch.Tensor:
    if kind == "subdivide":
        boxes = _subdivide_list(W, H, N, min_size)
    elif kind == "spiral":
        boxes = _spiral_list(W, H, N)
    else:
        boxes = _hybrid_list(W, H, N, min_size)
    return torch.tensor(boxes, dtype=torch.float32, device=device)


def cached_boxes(W, H, N: int, kind: str, min_size, device=None) -> torch.Tensor:
    """Static box set ``kind`` ∈ {"subdivide", "spiral", "hybrid"} as a cached (N, 4) tensor on ``device``.

    The same tensor object is returned for the same key: treat it as read-only.
    """
    W, H, min_size = _check_size("W", W), _check_size("H", H), _check_size("min_size", min_size)
    N = _check_count(N)
    if kind not in BOX_KINDS:
        raise ValueError(f"kind (GAAD box type) must be one of {BOX_KINDS} (got {kind!r})")
    return _cached(W, H, N, kind, min_size, torch.device(device if device is not None else "cpu"))


# ---------------------------------------------------------------------------------------------------------
# Motion-adaptive boxes (device-side, batched)
# ---------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _motion_templates(W: int, H: int, N: int, min_size: float, device: torch.device):
    """Static tensors for motion_adaptive_boxes: candidate cells, integer pixel rects, spiral offsets."""
    n_sub, n_spiral = N // 2, N - N // 2
    tree = _golden_tree(float(W), float(H), min_size, MOTION_CANDIDATE_DEPTH, max(4 * N, 128))
    cand = torch.tensor([box for _, box in sorted(tree, key=lambda kb: kb[0])], dtype=torch.float64)
    # integer pixel rect of each cell for the integral image, at least one pixel wide/high
    lo = cand[:, :2].round().long().clamp(min=0)
    hi = torch.maximum(cand[:, 2:].round().long(), lo + 1)
    hi = torch.minimum(hi, torch.tensor([W, H]))
    lo = torch.minimum(lo, hi - 1)
    rect = torch.cat([lo, hi], dim=1)  # (K, 4) as [ix1, iy1, ix2, iy2]
    pix_area = ((hi - lo).prod(dim=1)).double()
    # index-based tie-break: earlier (larger) cells win among equal densities
    k = cand.shape[0]
    tie = (k - torch.arange(k, dtype=torch.float64)) / k
    spiral = torch.tensor(_spiral_list(float(W), float(H), n_spiral), dtype=torch.float64)
    spiral -= torch.tensor([W / 2.0, H / 2.0, W / 2.0, H / 2.0], dtype=torch.float64)  # offsets from centre
    # peak tie-break in [0, 1], largest at the frame centre: flat energy puts the spiral in the middle
    ys = (torch.arange(H, dtype=torch.float64) + 0.5) / H - 0.5
    xs = (torch.arange(W, dtype=torch.float64) + 0.5) / W - 0.5
    centre_prior = 1.0 - 2.0 * (ys[:, None] ** 2 + xs[None, :] ** 2)  # (H, W)
    return (
        cand.float().to(device),
        rect.to(device),
        pix_area.to(device),
        tie.to(device),
        spiral.float().to(device),
        centre_prior.float().to(device),
        torch.tensor([float(W), float(H)], device=device),  # frame limit for shifting boxes inside
        n_sub,
    )


def motion_adaptive_boxes(energy_map: torch.Tensor, N: int, min_size) -> torch.Tensor:
    """Boxes that follow motion energy: (H, W) → (N, 4), (B, H, W) → (B, N, 4), float32, energy-map pixels.

    energy_map: non-negative motion energy (e.g. optical-flow magnitude) per pixel.
    First ``N//2`` boxes: cells ``c`` of the static depth-8 golden tree ranked by mean energy
    ``Σ_{p∈c} E(p) / |c|`` computed from the integral image ``S = cumsum_y cumsum_x E`` as
    ``S[y2,x2] − S[y1,x2] − S[y2,x1] + S[y1,x1]``; a tie-break ``1e-6·max(density)·(K−i)/K`` favours larger
    cells (zero motion gives the static subdivision). Last ``N − N//2`` boxes: the φ-spiral template
    re-centred on the peak of the 3×3-box-smoothed energy (ties → most central pixel, so zero motion keeps
    the spiral at the frame centre), each box shifted back inside the frame.
    """
    N = _check_count(N)
    min_size = _check_size("min_size", min_size)
    if not isinstance(energy_map, torch.Tensor) or energy_map.dim() not in (2, 3):
        raise ValueError(
            "energy_map must be a tensor of shape (H, W) or (B, H, W) "
            f"(got {type(energy_map).__name__} with shape {tuple(getattr(energy_map, 'shape', ()))})"
        )
    batched = energy_map.dim() == 3
    energy = energy_map if batched else energy_map.unsqueeze(0)  # (B, H, W)
    B, H, W = energy.shape
    templates = _motion_templates(W, H, N, min_size, energy.device)
    cand, rect, pix_area, tie, spiral, prior, limit, n_sub = templates
    parts = []
    if n_sub > 0:
        e64 = energy.double()
        integral = F.pad(e64.cumsum(dim=1).cumsum(dim=2), (1, 0, 1, 0))  # (B, H+1, W+1)
        flat = integral.reshape(B, (H + 1) * (W + 1))

        def corner(iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
            return flat[:, iy * (W + 1) + ix]  # (B, K)

        x1, y1, x2, y2 = rect.unbind(dim=1)
        sums = corner(y2, x2) - corner(y1, x2) - corner(y2, x1) + corner(y1, x1)
        density = sums / pix_area  # (B, K)
        scale = density.amax(dim=1, keepdim=True).clamp_min(1e-30)
        score = density + 1e-6 * scale * tie
        k = min(n_sub, cand.shape[0])
        idx = score.topk(k, dim=1).indices  # (B, k), ordered by score
        idx = torch.cat([idx, idx[:, -1:].expand(B, n_sub - k)], dim=1)  # pad with the last cell
        parts.append(cand[idx])  # (B, n_sub, 4)
    smooth = F.avg_pool2d(energy.unsqueeze(1).float(), 3, stride=1, padding=1, count_include_pad=False)
    smooth = smooth.reshape(B, H * W)
    bias = 1e-6 * (smooth.amax(dim=1, keepdim=True) + 1e-12) * prior.reshape(1, H * W)
    peak = (smooth + bias).argmax(dim=1)  # ties go to the most central pixel, then the first: deterministic
    centre = torch.stack([peak % W, torch.div(peak, W, rounding_mode="floor")], dim=1).float() + 0.5
    boxes = spiral.unsqueeze(0) + centre.repeat(1, 2).unsqueeze(1)  # (B, n_spiral, 4)
    size = boxes[..., 2:] - boxes[..., :2]
    origin = torch.minimum(boxes[..., :2].clamp_min(0.0), limit - size)
    parts.append(torch.cat([origin, origin + size], dim=-1))
    out = torch.cat(parts, dim=1)  # (B, N, 4)
    return out if batched else out.squeeze(0)


# ---------------------------------------------------------------------------------------------------------
# Box masks on a coarse grid (device-side, batched)
# ---------------------------------------------------------------------------------------------------------
def _interval_overlap(lo: torch.Tensor, hi: torch.Tensor, cells: int, extent: float) -> torch.Tensor:
    """Fraction of each of ``cells`` equal cells of ``[0, extent]`` covered by ``[lo, hi]``:
    (…, N) → (…, N, cells)."""
    size = extent / cells
    edges = torch.arange(cells + 1, device=lo.device, dtype=lo.dtype) * size
    start = torch.maximum(lo.unsqueeze(-1), edges[:-1])
    stop = torch.minimum(hi.unsqueeze(-1), edges[1:])
    return (stop - start).clamp_min(0.0) / size


def box_masks(boxes: torch.Tensor, W: float, H: float, w: int, h: int) -> torch.Tensor:
    """Covered area fraction of every cell of an ``h × w`` grid over the ``W × H`` frame, per box.

    ``boxes`` ``(…, N, 4)`` pixel ``[x1, y1, x2, y2]`` → ``(…, N, h, w)`` in [0, 1]; a cell inside a box is 1,
    a cell the box edge cuts holds the covered fraction. Separable: ``mask = overlap_y ⊗ overlap_x``.
    """
    if boxes.shape[-1] != 4 or w < 1 or h < 1:
        raise ValueError(f"box_masks needs boxes (..., N, 4) and a grid of at least 1x1 "
                         f"(got boxes {tuple(boxes.shape)}, grid {h}x{w})")
    x1, y1, x2, y2 = boxes.unbind(dim=-1)
    ox = _interval_overlap(x1, x2, w, float(W))  # (…, N, w)
    oy = _interval_overlap(y1, y2, h, float(H))  # (…, N, h)
    return oy.unsqueeze(-1) * ox.unsqueeze(-2)


@functools.lru_cache(maxsize=128)
def _cached_masks(W: float, H: float, N: int, kind: str, min_size: float, w: int, h: int,
                  device: torch.device) -> torch.Tensor:
    return box_masks(_cached(W, H, N, kind, min_size, device), W, H, w, h)


def cached_box_masks(W, H, N: int, kind: str, min_size, w: int, h: int, device=None) -> torch.Tensor:
    """``box_masks`` of the static set ``cached_boxes(W, H, N, kind, min_size)`` on an ``h × w`` grid,
    ``(N, h, w)``, cached per key (treat as read-only)."""
    cached_boxes(W, H, N, kind, min_size, device)  # validates the key
    return _cached_masks(float(W), float(H), N, kind, float(min_size), int(w), int(h),
                         torch.device(device if device is not None else "cpu"))
