"""Validation metrics on frames in [-1, 1]: MSE, PSNR, SSIM, LPIPS; the copy-last and flow-extrapolation
baselines.

All per-frame metrics take ``pred`` and ``target`` of shape (..., C, H, W) and return a tensor of shape
(...) — one value per frame — computed for every frame in one vectorised call. PSNR and SSIM map the
frames to [0, 1] first (x' = (x + 1) / 2), so they use data range 1 and match the usual 8-bit values.

The ``bench_*`` metrics keep the definitions of the published video-prediction tables (OpenSTL), on
frames mapped to [0, 1]: ``bench_mse`` / ``bench_mae`` are per-frame squared / absolute errors *summed*
over the H × W pixels (of the channel mean, which for one channel — the benchmark's case — is OpenSTL's
sum over C·H·W, and gives the same number when grey is replicated into C channels); ``bench_ssim`` is
scikit-image's default SSIM as those tables called it on float images (7 × 7 box window, sample
covariance, and the data range 2 that scikit-image < 0.21 assumed for floats); ``bench_psnr`` is
``psnr``. SSIM and PSNR clip the prediction to the data range first, MSE and MAE do not (as OpenSTL).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models import AlexNet_Weights

from wubugaad.geometry.warp import warp
from wubugaad.model.motion import MissingWeightsError

PSNR_MAX_DB = 100.0
ALEXNET_HUB_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_MIN_SIDE = 32  # AlexNet's pooling stack needs at least 32 × 32 inputs


def _unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1] in at least float32."""
    x = x.float() if x.dtype not in (torch.float32, torch.float64) else x
    return (x + 1.0) * 0.5


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame mean squared error in the model's [-1, 1] units: mean over (C, H, W)."""
    return (pred.float() - target.float()).pow(2).mean(dim=(-3, -2, -1))


def bench_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame squared error on [0, 1] summed over the H × W pixels (channel mean), unclipped."""
    return (_unit(pred) - _unit(target)).pow(2).mean(dim=-3).sum(dim=(-2, -1))


def bench_mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame absolute error on [0, 1] summed over the H × W pixels (channel mean), unclipped."""
    return (_unit(pred) - _unit(target)).abs().mean(dim=-3).sum(dim=(-2, -1))


def bench_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame SSIM as the published tables computed it (see the module docstring); clips ``pred``."""
    return ssim(pred.clamp(-1, 1), target, gaussian_weights=False, use_sample_covariance=True,
                data_range=2.0)


def bench_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR of the prediction clipped to the data range (``psnr``)."""
    return psnr(pred.clamp(-1, 1), target)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR in dB over [0, 1] images: 10·log10(1 / max(MSE, 1e-10)).

    The MSE floor caps identical frames at 100 dB, so averages stay finite (never ``inf``).
    """
    err = (_unit(pred) - _unit(target)).pow(2).mean(dim=(-3, -2, -1))
    return 10.0 * torch.log10(1.0 / err.clamp_min(10.0 ** (-PSNR_MAX_DB / 10.0)))


def _window_1d(gaussian: bool, sigma: float, max_len: int, dtype: torch.dtype,
               device: torch.device) -> torch.Tensor:
    """Normalised 1-D window: Gaussian of radius int(3.5σ + 0.5) (11 taps at σ = 1.5), or 7-tap box.

    Frames smaller than the window get the largest odd window that fits (``max_len`` = shorter side).
    """
    fit = max_len - 1 + max_len % 2  # largest odd length ≤ max_len
    if not gaussian:
        n = min(7, fit)
        return torch.full((n,), 1.0 / n, dtype=dtype, device=device)
    r = min(int(3.5 * sigma + 0.5), (fit - 1) // 2)
    x = torch.arange(-r, r + 1, dtype=dtype, device=device)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor, gaussian_weights: bool = True, sigma: float = 1.5,
         use_sample_covariance: bool = False, data_range: float = 1.0) -> torch.Tensor:
    """Per-frame SSIM (Wang et al. 2004) over [0, 1] images, averaged over channels and window positions.

    SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1 = (0.01 L)², C2 = (0.03 L)²,
    with local moments from a separable window. Only positions where the whole window fits are averaged,
    which is what ``skimage.metrics.structural_similarity`` does after its border crop; with the same
    options (``gaussian_weights``, ``sigma``, ``use_sample_covariance``, ``data_range`` = L, 1 by default,
    ``channel_axis``) the two agree to float rounding. Defaults are the paper's: 11-tap Gaussian, σ = 1.5,
    population covariance. Frames smaller than the window (under 11 px) use a shrunken window, so tiny
    debug resolutions still get a value (no longer comparable with scikit-image, which refuses them).
    """
    x, y = _unit(pred), _unit(target)
    lead = x.shape[:-3]
    C, H, W = x.shape[-3:]
    win = _window_1d(gaussian_weights, sigma, min(H, W), x.dtype, x.device)
    k = win.numel()
    x = x.reshape(-1, 1, H, W)  # (N·C, 1, H, W)
    y = y.reshape(-1, 1, H, W)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N·C, 5, H, W)
    # separable depthwise filtering of all five moment maps at once
    filt = F.conv2d(stack, win.view(1, 1, k, 1).expand(5, 1, k, 1), groups=5)
    filt = F.conv2d(filt, win.view(1, 1, 1, k).expand(5, 1, 1, k), groups=5)
    mx, my, mxx, myy, mxy = filt.unbind(dim=1)
    cov_norm = k * k / (k * k - 1.0) if use_sample_covariance else 1.0
    vx = cov_norm * (mxx - mx * mx)
    vy = cov_norm * (myy - my * my)
    vxy = cov_norm * (mxy - mx * my)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s_map = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s_map.reshape(*lead, C, -1).mean(dim=(-2, -1))


def copy_last_baseline(context_last: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Predict every target frame as the last context frame: (B, C, H, W) → (B, P, C, H, W) (a view)."""
    return context_last.unsqueeze(1).expand_as(targets)


def flow_extrapolation_baseline(context_last: torch.Tensor, last_flow: torch.Tensor,
                                steps: int) -> torch.Tensor:
    """Constant-velocity extrapolation of the last context frame by the classical flow of the last
    context pair: (B, C, H, W), (B, 2, H, W) → (B, steps, C, H, W).

    ``last_flow`` is the motion *into* the last frame on its own grid (``data/flow.py``'s convention), so
    ``−last_flow`` is the sampling flow that carries the frame one step further; each step warps the
    previous extrapolated frame by it again (what the generator's rollout does with the prior alone). The
    loop runs over future frames, a true data dependency (frame k + 1 is warped from frame k).
    """
    sampling = -last_flow.to(context_last.dtype)
    frame, out = context_last, []
    for _ in range(steps):
        frame = warp(frame, sampling)
        out.append(frame)
    return torch.stack(out, dim=1)


def lpips_weights_file(weights_path: str | os.PathLike | None = None) -> Path:
    """The AlexNet backbone file LPIPS loads: ``weights_path``, or without it the torch hub cache file."""
    if weights_path:
        return Path(weights_path)
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_HUB_FILE


def require_lpips_weights(weights_path: str | os.PathLike | None = None) -> Path:
    """``lpips_weights_file``, or ``MissingWeightsError`` (one line: the file, where it comes from, the
    other ways out) when it does not exist: the check a run that asks for LPIPS makes before anything."""
    path = lpips_weights_file(weights_path)
    if not path.is_file():
        raise MissingWeightsError(
            f"LPIPS backbone weights not found: looked for {path}. Either put the file there (torchvision's "
            f"{ALEXNET_HUB_FILE}, from {AlexNet_Weights.IMAGENET1K_V1.url}) or pass --lpips_weights PATH, or "
            f"leave out --use_lpips_for_verification.")
    return path


class LPIPSMetric:
    """LPIPS (AlexNet, v0.1 linear heads shipped with the ``lpips`` package) per frame, or unavailable.

    Backbone weights come from ``weights_path`` (a torchvision AlexNet state dict) or, without it, from
    the torch hub cache file ``<torch.hub.get_dir()>/checkpoints/alexnet-owt-7be5be79.pth``. Nothing is ever
    downloaded: when the file is missing or unloadable, ``available`` is False, one warning says why, and
    calls return None. Frames smaller than 32 px are upsampled bilinearly to 32 px on the short side;
    grayscale frames are repeated to three channels.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model: torch.nn.Module | None = None
        self.reason = ""
        source = lpips_weights_file(weights_path)
        if not source.is_file():
            fix = "check --lpips_weights" if weights_path else "put them there or pass --lpips_weights"
            self._disable(f"AlexNet backbone weights not found at {source} ({fix})")
            return
        try:
            self.model = self._build(source)
        except Exception as exc:  # any load failure must leave validation running without LPIPS
            self._disable(f"could not load AlexNet backbone weights from {source}: {exc}")

    @property
    def available(self) -> bool:
        return self.model is not None

    def _disable(self, reason: str) -> None:
        self.reason = reason
        warnings.warn(f"LPIPS unavailable: {reason}. LPIPS is reported as unavailable.", RuntimeWarning,
                      stacklevel=3)

    def _build(self, source: Path) -> torch.nn.Module:
        import lpips  # deferred: only needed when the metric is enabled

        state = torch.load(source, map_location="cpu", weights_only=True)
        features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        if not features:
            raise ValueError("no 'features.*' tensors (expected a torchvision AlexNet state dict)")
        with warnings.catch_warnings():
            # lpips builds torchvision.alexnet(pretrained=False): silence its deprecation notices
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
        # lpips splits AlexNet.features into slice1..5 whose children keep the original indices
        mapped = {}
        for slice_name, block in model.net.named_children():
            for idx, _ in block.named_children():
                for p in ("weight", "bias"):
                    if f"{idx}.{p}" in features:
                        mapped[f"{slice_name}.{idx}.{p}"] = features[f"{idx}.{p}"]
        model.net.load_state_dict(mapped, strict=True)
        return model.to(self.device).eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """Per-frame LPIPS distance (...,) for frames (..., C, H, W) in [-1, 1]; None when unavailable."""
        if self.model is None:
            return None
        lead = pred.shape[:-3]
        C, H, W = pred.shape[-3:]
        x = pred.reshape(-1, C, H, W).to(self.device, torch.float32)  # (N, C, H, W)
        y = target.reshape(-1, C, H, W).to(self.device, torch.float32)
        if C == 1:
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        if min(H, W) < LPIPS_MIN_SIDE:
            scale = LPIPS_MIN_SIDE / min(H, W)
            size = (max(LPIPS_MIN_SIDE, round(H * scale)), max(LPIPS_MIN_SIDE, round(W * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return self.model(x, y).reshape(lead).to(pred.device)
