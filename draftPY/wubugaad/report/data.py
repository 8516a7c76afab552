"""What a run folder holds, read for the run report: metrics columns, config, status and samples.

``metrics.jsonl`` is read incrementally: a reader remembers how far it got, so rebuilding the report of a
growing run parses only the lines appended since the last build. Values are kept in full (``array('d')``
columns, one per key); only drawing downsamples them (``downsample``).

Keys are sorted into report panels by their prefix alone (``panel_for``), so a key nobody has seen
before still gets a panel: in its section when the prefix is known, under "other" otherwise.
"""

from __future__ import annotations

import json
import math
import os
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["MetricsLog", "Run", "Panel", "panel_for", "per_step_key", "per_video_key", "downsample",
           "SECTIONS", "PER_VIDEO"]

# (section id, heading) in page order; "summary" and "samples" are not built from metric keys
SECTIONS = (("summary", "Run summary"), ("losses", "Losses"), ("validation", "Validation"),
            ("geometry", "Geometry"), ("qcontrol", "Q-controller"), ("gradnorms", "Gradient norms"),
            ("training", "Other training scalars"), ("other", "Other logged scalars"),
            ("samples", "Latest samples"))
VAL_MODES = (("avg_val_recon_", "reconstruction"), ("avg_val_", "reconstruction"),
             ("pred_", "prediction"), ("copy_last_", "copy-last"), ("flow_extrap_", "flow extrapolation"),
             # --val_num_samples N: the sampled futures' best / mean / worst (train/sample_metrics.py) share
             # the prediction's charts, so the spread of the samples shows beside the prior-mean guess
             ("sample_best_", "best of N samples"), ("sample_mean_", "mean of N samples"),
             ("sample_worst_", "worst of N samples"))
# the headline: prediction PSNR minus the better of the two baselines (train/baselines.py), in dB
LEARNED_GAIN = ("learned_gain_db", "learned gain (dB)", "prediction − better baseline")
# one video's figures in a validation set of several: val/video/<name>/<metric> (name may hold "/")
PER_VIDEO = ("video", ("pred_psnr", "copy_last_psnr", "flow_extrap_psnr", "learned_gain_db"),
             ("prediction PSNR", "copy-last PSNR", "flow extrapolation PSNR", "learned gain (dB)"))
LOWER_IS_BETTER = ("mse", "mae", "lpips")
LOSS_NAMES = {"loss_g_total": "total", "loss_recon": "reconstruction", "loss_forecast": "forecast",
              "loss_kl": "KL", "loss_kl_map": "KL of the map", "loss_g_adv": "adversarial",
              "loss_d_total": "total", "loss_d_real": "real", "loss_d_fake": "fake"}
_SERIES_ORDER = ("total", "reconstruction", "forecast", "KL", "KL of the map", "adversarial", "real", "fake")
_PANEL_ORDER = ("generator losses", "discriminator losses", "curvature", "scale", "spread",
                "rotation_orthogonality_error", "boundary_saturation", "lr / momentum scales", "epsilon",
                "avgreward", "qtablesize", "psnr", "ssim", "lpips", "mse")
_LEVEL = re.compile(r"^level(\d+)$")
_PER_STEP = re.compile(r"^val/(?P<base>.*psnr.*?|.*(?:mse|mae|ssim|lpips|diversity).*?)"
                       r"[_/](?:t\+?|step|frame)?(?P<k>\d+)$")
SAMPLE_IMAGES = (".png", ".gif", ".jpg", ".jpeg", ".webp")
SAMPLE_VIDEOS = (".mp4", ".webm")


class MetricsLog:
    """Columns ``key → (steps, values)`` of one ``metrics.jsonl``, extended by ``refresh``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._id = None
        self._offset = 0
        self.lines = 0
        self.bad_lines = 0
        self.columns: dict[str, tuple[array, array]] = {}
        self._curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.last_epoch: int | None = None

    def refresh(self) -> MetricsLog:
        """Parse the complete lines appended since the last call (all of them after a rewrite)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.__init__(self.path)
            return self
        if (st.st_dev, st.st_ino) != self._id or st.st_size < self._offset:
            self.__init__(self.path)
            self._id = (st.st_dev, st.st_ino)
        if st.st_size == self._offset:
            return self
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read(st.st_size - self._offset)
        end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next refresh
        self._offset += end
        self._curves.clear()
        records = [r for r in map(self._parse, chunk[:end].splitlines()) if r is not None]
        start = 0
        while start < len(records):  # runs of lines with the same keys go in as one table
            keys, stop = tuple(records[start]), start + 1
            while stop < len(records) and tuple(records[stop]) == keys:
                stop += 1
            self._store(keys, records[start:stop])
            start = stop
        return self

    def _parse(self, line: bytes) -> dict | None:
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int | float):
            self.bad_lines += 1
            return None
        return record

    def _store(self, keys: tuple, block: list[dict]) -> None:
        try:
            table = np.array([list(r.values()) for r in block], dtype=float)
        except (TypeError, ValueError):  # a non-numeric value somewhere: record by record
            for record in block:
                self._store(tuple(k for k, v in record.items() if isinstance(v, int | float)),
                            [{k: record[k] for k in record if isinstance(record[k], int | float)}])
            return
        steps = table[:, keys.index("step")]
        self.lines += len(block)
        low, high = int(steps.min()), int(steps.max())
        self.first_step = low if self.first_step is None else min(self.first_step, low)
        self.last_step = high if self.last_step is None else max(self.last_step, high)
        if "epoch" in keys:
            self.last_epoch = int(table[-1, keys.index("epoch")])
        step_bytes = steps.tobytes()
        for c, key in enumerate(keys):
            if key in ("step", "epoch"):
                continue
            col = self.columns.get(key)
            if col is None:
                col = self.columns[key] = (array("d"), array("d"))
            col[0].frombytes(step_bytes)
            col[1].frombytes(table[:, c].tobytes())

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of ``key`` in logging order, sorted by step when a resume rewound it (the
        latest value of a repeated step wins); empty arrays when the key was never logged."""
        if key in self._curves:
            return self._curves[key]
        col = self.columns.get(key)
        if col is None:
            return np.empty(0), np.empty(0)
        # copies: a live view of an array('d') would forbid appending to it later
        steps, values = np.frombuffer(col[0]).copy(), np.frombuffer(col[1]).copy()
        if steps.size > 1 and np.any(np.diff(steps) < 0):
            _, last = np.unique(steps[::-1], return_index=True)
            keep = steps.size - 1 - last
            steps, values = steps[keep], values[keep]
        self._curves[key] = steps, values
        return steps, values


_LOGS: dict[str, MetricsLog] = {}


def metrics_log(path: Path) -> MetricsLog:
    """The process-wide incremental reader of ``path`` (a training run rebuilds its report cheaply)."""
    key = str(Path(path).resolve())
    if key not in _LOGS:
        _LOGS[key] = MetricsLog(Path(path))
    return _LOGS[key].refresh()


@dataclass
class Run:
    """One run folder: its name on the page, metrics, config, status and sample files."""

    folder: Path
    name: str
    log: MetricsLog
    config: dict = field(default_factory=dict)
    config_error: str | None = None
    status: dict = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, name: str | None = None, status: dict | None = None) -> Run:
        folder = Path(folder)
        run = cls(folder, name or folder.resolve().name, metrics_log(folder / "metrics.jsonl"))
        try:
            run.config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            run.config_error = "config.json not found"
        except (OSError, ValueError) as exc:
            run.config_error = f"config.json unreadable ({exc})"
        run.status = dict(status or {})
        return run

    @property
    def keys(self) -> list[str]:
        return sorted(self.log.columns)

    def sample_sets(self) -> list[tuple[str, list[Path]]]:
        """Sample files grouped by their tag (``{tag}_{kind}.{ext}``), most recently written set first."""
        folder = self.folder / "samples"
        sets: dict[str, list[Path]] = {}
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and p.suffix.lower() in SAMPLE_IMAGES + SAMPLE_VIDEOS:
                    sets.setdefault(p.name.split("_", 1)[0], []).append(p)
        newest = {tag: max(f.stat().st_mtime for f in files) for tag, files in sets.items()}
        order = sorted(sets, key=lambda t: (newest[t], _number(t)), reverse=True)
        return [(tag, sorted(sets[tag], key=lambda p: (p.suffix.lower() in SAMPLE_VIDEOS, p.name)))
                for tag in order]


def _number(tag: str) -> int:
    digits = re.findall(r"\d+", tag)
    return int(digits[-1]) if digits else -1


@dataclass(frozen=True)
class Panel:
    """One chart: ``section``, a title, and its series ``(label, source)``; a source is a metric key or
    ``("delta", a, b)`` for ``a − b`` at the steps both were logged."""

    section: str
    title: str
    series: tuple = ()
    note: str = ""
    zero_line: bool = False


def panel_for(key: str) -> tuple[str, str, str] | None:
    """``(section, panel title, series label)`` of a metric key, by its prefix; ``None`` to leave it out."""
    parts = key.split("/")
    head, rest = parts[0], parts[1:]
    if key in ("step", "epoch") or per_step_key(key) is not None:
        return None
    if head == "val" and rest[0] == PER_VIDEO[0] and len(rest) > 2:
        return None  # one video's figures: a table of the last validation (``per_video_key``), not charts
    if head == "val" and len(rest) == 1:
        name = rest[0]
        if name == LEARNED_GAIN[0]:
            return "validation", LEARNED_GAIN[1], LEARNED_GAIN[2]
        for prefix, mode in VAL_MODES:
            if name.startswith(prefix):
                return "validation", name[len(prefix):], mode
        return "validation", name, name
    if head == "geometry" and rest:
        level = _LEVEL.match(rest[1]) if len(rest) == 3 else None
        if level:
            return "geometry", rest[2], f"{rest[0]} L{level.group(1)}"
        return "geometry", rest[-1], "/".join(rest[:-1]) or rest[-1]
    if head.startswith("q_ctrl_") and rest:
        role, name = head[len("q_ctrl_"):], "/".join(rest)
        if name.endswith("scale"):  # lr and momentum scales share one chart (both are factors around 1)
            return "qcontrol", "lr / momentum scales", f"{role} {name[:-len('scale')]}"
        return "qcontrol", name, role
    if head == "grad_norm" and rest:
        return "gradnorms", "grad_norm/… per component", "/".join(rest)
    if head == "train" and len(rest) == 1:
        name = rest[0]
        if name.startswith("loss_d"):
            return "losses", "discriminator losses", LOSS_NAMES.get(name, name)
        if name.startswith("loss_"):
            return "losses", "generator losses", LOSS_NAMES.get(name, name)
        if name.startswith("grad_norm_"):
            return "gradnorms", "train/grad_norm_… per network", name[len("grad_norm_"):]
        if name.startswith("lr_"):
            return "training", "train/lr_… (learning rates)", name[len("lr_"):]
        return "training", key, key
    if rest:
        return "other", head, "/".join(rest)
    return "other", key, key


def per_step_key(key: str) -> tuple[str, int] | None:
    """``(base, k)`` for a validation metric of future step ``k`` (``val/pred_psnr_t3``, ``…/step3``)."""
    m = _PER_STEP.match(key)
    return (m.group("base"), int(m.group("k"))) if m else None


def per_video_key(key: str) -> tuple[str, str] | None:
    """``(video, metric)`` of one video's validation figure (``val/video/clip.mp4/pred_psnr``), else None."""
    head = f"val/{PER_VIDEO[0]}/"
    if not key.startswith(head):
        return None
    video, _, metric = key[len(head):].rpartition("/")
    return (video, metric) if video else None


def build_panels(keys: list[str]) -> dict[str, list[Panel]]:
    """Every key's panel, grouped by section, with a Δ-to-copy-last panel per validation metric that has
    both a prediction and a copy-last key."""
    grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key in keys:
        where = panel_for(key)
        if where is not None:
            grouped.setdefault(where[:2], []).append((where[2], key))
    out: dict[str, list[Panel]] = {sid: [] for sid, _ in SECTIONS}
    for (section, title), series in sorted(grouped.items(), key=lambda it: _panel_rank(*it[0])):
        note = ""
        if section == "losses":
            series.sort(key=lambda s: (_SERIES_ORDER.index(s[0]) if s[0] in _SERIES_ORDER else 99, s[0]))
        if section == "validation":
            order = {"prediction": 0, "copy-last": 1, "flow extrapolation": 2, "reconstruction": 3}
            series.sort(key=lambda s: order.get(s[0], 4))
            lower = any(w in title for w in LOWER_IS_BETTER)
            note = "lower is better" if lower else "higher is better"
        gain = title == LEARNED_GAIN[1]
        if gain:
            note = "above 0 = the model adds what neither copy-last nor the flow extrapolation gives"
        out[section].append(Panel(section, title.upper() if section == "validation" and len(title) <= 5
                                  else title, tuple(series), note, zero_line=gain))
        labels = dict(series)
        if section == "validation" and "prediction" in labels and "copy-last" in labels:
            better = "below" if any(w in title for w in LOWER_IS_BETTER) else "above"
            out[section].append(Panel(section, f"Δ {title.upper()}: prediction − copy-last",
                                      (("Δ", ("delta", labels["prediction"], labels["copy-last"])),),
                                      f"{better} 0 = the prediction beats copying the last frame",
                                      zero_line=True))
    return out


def _panel_rank(section: str, title: str) -> tuple:
    base = title if title in _PANEL_ORDER else title.split("/")[-1]
    return (section, _PANEL_ORDER.index(base) if base in _PANEL_ORDER else len(_PANEL_ORDER), title)


def downsample(steps: np.ndarray, values: np.ndarray, max_points: int):
    """At most ``max_points`` points to draw: ``(x, mean, low, high)``, bucket means with the bucket's
    min/max envelope (``low``/``high`` are ``None`` when nothing was merged). Non-finite values become
    gaps."""
    values = np.where(np.isfinite(values), values, np.nan)
    n = steps.size
    if n <= max_points:
        return steps, values, None, None
    starts = np.linspace(0, n, max_points + 1).astype(np.int64)[:-1]
    counts = np.diff(np.append(starts, n))
    x = np.add.reduceat(steps, starts) / counts
    mean = np.add.reduceat(values, starts) / counts  # a NaN in a bucket leaves a gap there
    return x, mean, np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)


def fmt_value(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"
