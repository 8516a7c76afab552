"""Region tokens for GAAD boxes: box embedding, batched RoIAlign tokenizer, attention pooling.

All ``M`` frames (typically ``B·T``) × ``N`` boxes are handled by ONE ``torchvision.ops.roi_align`` call on
an ``(M·N, 5)`` rois tensor ``[frame_index, x1, y1, x2, y2]``; no Python loop over frames or regions and no
host syncs. Boxes are in pixel coordinates of the input frames (``[0, 0, W, H]`` is the full frame); with
``aligned=True`` pixel ``(i, j)`` covers ``[j, j+1) × [i, i+1)``, which matches that convention.

``paint`` is the way back: region tokens written into the cells of their boxes on a feature grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import roi_align

GROUPNORM_GROUPS = 8


class BoxEmbedding(nn.Module):
    """Embed boxes ``[x1, y1, x2, y2]`` from normalised geometry.

    Features per box, ``w = x2 − x1``, ``h = y2 − y1``:
    ``(2·cx/W − 1, 2·cy/H − 1, w/W, h/H, log(w/h))`` → Linear(5, dim) → GELU → Linear(dim, dim).
    """

    def __init__(self, dim: int):
        super().__init__()
        if dim < 1:
            raise ValueError(f"BoxEmbedding dim must be >= 1 (got {dim})")
        self.mlp = nn.Sequential(nn.Linear(5, dim), nn.GELU(), nn.Linear(dim, dim))

    @staticmethod
    def features(boxes: torch.Tensor, W: float, H: float) -> torch.Tensor:
        """(..., N, 4) boxes → (..., N, 5) normalised features."""
        x1, y1, x2, y2 = boxes.unbind(dim=-1)
        w = (x2 - x1).clamp_min(1e-6)  # degenerate boxes must not give log(0)
        h = (y2 - y1).clamp_min(1e-6)
        return torch.stack(
            [(x1 + x2) / W - 1.0, (y1 + y2) / H - 1.0, w / W, h / H, torch.log(w / h)], dim=-1
        )

    def forward(self, boxes: torch.Tensor, W: float, H: float) -> torch.Tensor:
        """boxes (..., N, 4) → (..., N, dim)."""
        return self.mlp(self.features(boxes, W, H))


class RegionTokenizer(nn.Module):
    """Frames × boxes → region tokens ``(M, N, token_dim)`` (box embedding included).

    use_roi_align=True: shallow CNN (two 3×3 convs with GroupNorm(8) + GELU, the first with stride 2 so the
    feature map is at 1/2 resolution, hence ``spatial_scale = 0.5``) → RoIAlign to ``roi_output_hw`` →
    flatten → Linear. use_roi_align=False (pixel patches): RoIAlign directly on the frames to
    ``patch_size × patch_size`` (a batched crop-and-resize) → flatten → Linear.
    ``sampling_ratio`` is passed to RoIAlign; the default −1 averages ``ceil(box/bin)`` samples per bin
    (an anti-aliased resize of large boxes); a positive value fixes the cost per box.
    """

    def __init__(
        self,
        in_channels: int,
        token_dim: int,
        use_roi_align: bool = True,
        cnn_channels: int = 32,
        roi_output_hw: tuple[int, int] = (4, 4),
        patch_size: int = 16,
        sampling_ratio: int = -1,
    ):
        super().__init__()
        if in_channels < 1 or token_dim < 1:
            raise ValueError(
                f"in_channels and token_dim must be >= 1 (got in_channels={in_channels}, "
                f"token_dim={token_dim})"
            )
        self.use_roi_align = bool(use_roi_align)
        self.sampling_ratio = int(sampling_ratio)
        if self.use_roi_align:
            if cnn_channels < GROUPNORM_GROUPS or cnn_channels % GROUPNORM_GROUPS:
                raise ValueError(
                    f"cnn_channels must be a positive multiple of {GROUPNORM_GROUPS} for GroupNorm "
                    f"(got {cnn_channels}); e.g. 32"
                )
            out_h, out_w = (int(v) for v in roi_output_hw)
            if out_h < 1 or out_w < 1:
                raise ValueError(f"roi_output_hw must be two positive ints (got {roi_output_hw})")
            # no conv bias: the GroupNorm right after removes it (it would get zero gradient)
            self.cnn = nn.Sequential(
                nn.Conv2d(in_channels, cnn_channels, 3, stride=2, padding=1, bias=False),
                nn.GroupNorm(GROUPNORM_GROUPS, cnn_channels),
                nn.GELU(),
                nn.Conv2d(cnn_channels, cnn_channels, 3, padding=1, bias=False),
                nn.GroupNorm(GROUPNORM_GROUPS, cnn_channels),
                nn.GELU(),
            )
            self.output_hw = (out_h, out_w)
            self.spatial_scale = 0.5
            flat = cnn_channels * out_h * out_w
        else:
            if patch_size < 1:
                raise ValueError(f"patch_size must be >= 1 (got {patch_size}); e.g. 16")
            self.cnn = None
            self.output_hw = (int(patch_size), int(patch_size))
            self.spatial_scale = 1.0
            flat = in_channels * patch_size * patch_size
        self.proj = nn.Linear(flat, token_dim)
        self.box_embedding = BoxEmbedding(token_dim)

    def forward(self, frames: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """frames (M, C, H, W), boxes (N, 4) shared or (M, N, 4) per frame → tokens (M, N, token_dim)."""
        if frames.dim() != 4:
            raise ValueError(f"frames must be (M, C, H, W) (got shape {tuple(frames.shape)})")
        M, _, H, W = frames.shape
        if boxes.dim() == 2:
            boxes = boxes.unsqueeze(0).expand(M, -1, -1)  # shared set: (N, 4) → (M, N, 4) view
        if boxes.dim() != 3 or boxes.shape[0] != M or boxes.shape[-1] != 4:
            raise ValueError(f"boxes must be (N, 4) or ({M}, N, 4) for {M} frames (got {tuple(boxes.shape)})")
        N = boxes.shape[1]
        feats = self.cnn(frames) if self.cnn is not None else frames
        boxes = boxes.to(feats.dtype)
        frame_index = torch.arange(M, device=feats.device, dtype=feats.dtype).repeat_interleave(N)
        rois = torch.cat([frame_index.unsqueeze(1), boxes.reshape(M * N, 4)], dim=1)  # (M·N, 5)
        pooled = roi_align(
            feats,
            rois,
            output_size=self.output_hw,
            spatial_scale=self.spatial_scale,
            sampling_ratio=self.sampling_ratio,
            aligned=True,
        )  # (M·N, C', oh, ow)
        tokens = self.proj(pooled.flatten(1)).reshape(M, N, -1)  # (M·N, D) → (M, N, D)
        return tokens + self.box_embedding(boxes, W, H)


class AttentionPool(nn.Module):
    """Pool ``(M, N, D)`` region tokens to ``(M, D)`` with learned queries (one per head).

    Per head ``h`` with ``d = D / heads``: ``a_h = softmax_n(q_h · k_{h,n} / √d)``,
    ``o_h = Σ_n a_{h,n} v_{h,n}``; heads are concatenated and projected.
    Invariant to permutations of the N regions.
    """

    def __init__(self, dim: int, num_heads: int = 1):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"num_heads must be >= 1 and divide dim (got dim={dim}, num_heads={num_heads})")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.query = nn.Parameter(torch.randn(num_heads, self.head_dim) / math.sqrt(self.head_dim))
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (M, N, D) → (M, D)."""
        M, N, D = tokens.shape
        k, v = self.kv(tokens).reshape(M, N, 2, self.num_heads, self.head_dim).unbind(dim=2)  # (M, N, h, d)
        logits = torch.einsum("mnhd,hd->mhn", k, self.query) / math.sqrt(self.head_dim)
        weights = F.softmax(logits, dim=-1)  # over regions
        pooled = torch.einsum("mhn,mnhd->mhd", weights, v).reshape(M, D)
        return self.out(pooled)


def paint(tokens: torch.Tensor, masks: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Write region tokens into the grid cells of their boxes, averaged where boxes overlap.

    ``tokens`` ``(B, N, D)``; ``masks`` ``(N, h, w)`` shared or ``(B, N, h, w)`` per sample (covered cell
    fractions, ``gaad.boxes.box_masks``) → ``(B, D, h, w)``::

        out[b, :, y, x] = Σ_n m[n, y, x] · tokens[b, n] / max(Σ_n m[n, y, x], eps)

    A cell no box touches stays zero. One einsum for all samples, regions and cells.
    """
    if tokens.dim() != 3 or masks.dim() not in (3, 4) or masks.shape[-3] != tokens.shape[1]:
        raise ValueError(f"paint needs tokens (B, N, D) and masks (N, h, w) or (B, N, h, w) with the same N "
                         f"(got tokens {tuple(tokens.shape)}, masks {tuple(masks.shape)})")
    masks = masks.to(tokens.dtype)
    if masks.dim() == 3:
        summed = torch.einsum("bnd,nyx->bdyx", tokens, masks)
        coverage = masks.sum(dim=0)  # (h, w)
    else:
        summed = torch.einsum("bnd,bnyx->bdyx", tokens, masks)
        coverage = masks.sum(dim=1).unsqueeze(1)  # (B, 1, h, w)
    return summed / coverage.clamp_min(eps)
