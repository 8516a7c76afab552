"""The offline run report: one self-contained ``report.html`` per run folder (or one page for several).

It reads only what a run writes — ``metrics.jsonl``, ``config.json`` and ``samples/`` — and needs no
network: charts are inline SVG, sample grids and clips are referenced by relative paths. Sections: run
summary, losses, validation (prediction vs copy-last vs flow extrapolation vs reconstruction, the Δ to
copy-last, the learned gain over the better baseline, per future step, per video), geometry,
Q-controller, gradient norms, other scalars, latest samples. Keys are grouped by prefix
(``report_data.panel_for``), so new keys show up without changes here; a section with nothing to show
says what is missing and why.

The trainer passes a ``status`` (state, device); it is stored inside the page as JSON so that a later
rebuild from the command line (``wubugaad_report.py``) keeps it.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

from wubugaad.report.charts import COLORS, DASHES, Line, svg_chart
from wubugaad.report.data import (
    SAMPLE_VIDEOS,
    SECTIONS,
    Panel,
    Run,
    build_panels,
    fmt_value,
    per_step_key,
)
from wubugaad.report.sections import CSS, per_video_table, summary_section

__all__ = ["REPORT_NAME", "build_report", "write_report", "write_comparison", "read_status"]

REPORT_NAME = "report.html"
STATUS_ID = "wubugaad-run-status"
MISSING = {
    "losses": "No <code>train/loss_*</code> keys in metrics.jsonl: no training step was logged yet.",
    "validation": "No validation metrics (<code>val/…</code> keys) in metrics.jsonl: the run has no "
                  "validation set (<code>--validation_video_path</code> or a validation split) or has not "
                  "validated yet.",
    "geometry": "No <code>geometry/…</code> keys in metrics.jsonl: the model logged no geometry statistics "
                "(e.g. every WuBu component ablated, or a model without WuBu stacks).",
    "qcontrol": "No <code>q_ctrl_…</code> keys: the Q-controller was off "
                "(<code>--q_controller_enabled</code>).",
    "gradnorms": "No gradient-norm keys (<code>grad_norm/…</code> or <code>train/grad_norm_…</code>): "
                 "they are logged with <code>--log_grad_norm</code>.",
    "training": "No other <code>train/…</code> scalars.",
    "other": "None: every key belongs to a section above.",
}
_STATUS_RE = re.compile(r'<script type="application/json" id="' + STATUS_ID + r'">(.*?)</script>', re.S)


def e(text) -> str:
    return html.escape(str(text), quote=True)


def read_status(page: Path) -> dict:
    """The status stored in an existing report page (``{}`` when there is none)."""
    try:
        m = _STATUS_RE.search(Path(page).read_text(encoding="utf-8"))
        return json.loads(m.group(1).replace("<\\/", "</")) if m else {}
    except (OSError, ValueError):
        return {}


def _curve(run: Run, source) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(source, str):
        return run.log.curve(source)
    _, a, b = source
    (sa, va), (sb, vb) = run.log.curve(a), run.log.curve(b)
    common, ia, ib = np.intersect1d(sa, sb, return_indices=True)
    return common, va[ia] - vb[ib]


def _swatch(color: str, dashes: tuple) -> str:
    dash = f' stroke-dasharray="{" ".join(f"{d:g}" for d in dashes)}"' if dashes else ""
    return (f'<svg class="swatch" width="22" height="8" aria-hidden="true"><line x1="0" y1="4" x2="22" '
            f'y2="4" stroke="{color}" stroke-width="2"{dash}/></svg>')


def _figure(title: str, note: str, lines: list[Line], legend: list[str], missing: list[str], salt: str,
            zero_line: bool = False, xlabel: str = "step") -> str:
    keys = "".join(f'<span class="key">{_swatch(ln.color, ln.dashes)}{text}</span>'
                   for ln, text in zip(lines, legend, strict=True))
    absent = f'<div class="absent">not logged by: {e(", ".join(missing))}</div>' if missing else ""
    return (f'<figure class="chart"><figcaption><b>{e(title)}</b> <span class="note">{e(note)}</span>'
            f'</figcaption>{svg_chart(lines, salt, zero_line, xlabel)}<div class="legend">{keys}</div>'
            f'{absent}</figure>')


def _panel_html(panel: Panel, runs: list[Run], salt: str) -> str:
    lines, legend, missing = [], [], []
    for r, run in enumerate(runs):
        found = False
        for j, (label, source) in enumerate(panel.series):
            steps, values = _curve(run, source)
            if steps.size == 0:
                continue
            found = True
            lines.append(Line(steps, values, COLORS[j % len(COLORS)], DASHES[r % len(DASHES)]))
            name = label if len(runs) == 1 else f"{label} · {run.name}"
            key = source if isinstance(source, str) else f"{source[1]} − {source[2]}"
            legend.append(f'<span title="{e(key)}">{e(name)}</span> <span class="last">'
                          f'{e(fmt_value(values[-1]))} @ {int(steps[-1])}</span>')
        if not found:
            missing.append(run.name)
    if not lines:
        return ""
    return _figure(panel.title, panel.note, lines, legend, missing if len(runs) > 1 else [], salt,
                   panel.zero_line)


def _per_step_html(runs: list[Run], salt: str) -> str:
    """Validation metrics per future step at each run's last validation that logged them."""
    families: dict[str, list[tuple[str, int, str]]] = {}
    for key in sorted({k for run in runs for k in run.keys}):
        found = per_step_key(key)
        if found:
            base, k = found
            family = re.sub(r"^(pred_|copy_last_|flow_extrap_|avg_val_)", "", base)
            # best, mean and worst of the N sampled futures: one chart of three curves per score
            family = re.sub(r"^sample_(?:best|mean|worst)_", "best / mean / worst of N samples: ", family)
            families.setdefault(family, []).append((base, k, key))
    if not families:
        return ('<p class="missing">No per-future-step metrics (keys like <code>val/pred_psnr_t1</code>, '
                '<code>val/copy_last_psnr_t1</code>) in metrics.jsonl: this run logs one mean over the '
                'predicted frames.</p>')
    out = []
    for family, members in families.items():
        bases = sorted({b for b, _, _ in members}, key=lambda b: (not b.startswith("pred"), b))
        lines, legend = [], []
        for r, run in enumerate(runs):
            for j, base in enumerate(bases):
                points = []
                for b, k, key in members:
                    steps, values = run.log.curve(key)
                    if b == base and steps.size:
                        points.append((k, steps[-1], values[-1]))
                if not points:
                    continue
                last = max(p[1] for p in points)
                points = sorted(p for p in points if p[1] == last)
                lines.append(Line(np.array([p[0] for p in points], float), np.array([p[2] for p in points]),
                                  COLORS[j % len(COLORS)], DASHES[r % len(DASHES)], marker=True))
                name = base if len(runs) == 1 else f"{base} · {run.name}"
                legend.append(f'{e(name)} <span class="last">at step {int(last)}</span>')
        if lines:
            out.append(_figure(f"{family} per future step", "last validation", lines, legend, [],
                               f"{salt}-{family}", xlabel="future step"))
    return f'<div class="charts">{"".join(out)}</div>'


def _samples_html(runs: list[Run], out_dir: Path) -> str:
    parts = []
    for run in runs:
        sets = run.sample_sets()
        head = f"<h3>{e(run.name)}</h3>" if len(runs) > 1 else ""
        if not sets:
            parts.append(f'{head}<p class="missing">No sample grids or clips in '
                         f'<code>{e(run.folder / "samples")}</code> yet (they are written at each '
                         f'validation and at the end of training).</p>')
            continue
        tag, files = sets[0]
        items = []
        for f in files:
            ref = quote(os.path.relpath(f, out_dir).replace(os.sep, "/"))
            if f.suffix.lower() in SAMPLE_VIDEOS:
                media = (f'<video class="sample" src="{ref}" controls muted loop preload="metadata"></video>'
                         f'<a href="{ref}">open clip</a>')
            else:
                media = f'<a href="{ref}"><img class="sample" src="{ref}" alt="{e(f.name)}"></a>'
            items.append(f'<figure class="sample-item">{media}<figcaption>{e(f.name)}</figcaption></figure>')
        older = f" ({len(sets) - 1} earlier set(s) in samples/)" if len(sets) > 1 else ""
        parts.append(f'{head}<p>Latest set <code>{e(tag)}</code>{e(older)}. Grids: one row per clip, '
                     f'context | truth | output; <code>*_sampled_futures.png</code>: the first clip\'s '
                     f'truth on top, then futures sampled from its context (the same noise at every '
                     f'validation), so their spread shows. Clips that a browser cannot decode open with a '
                     f'video player (or train with <code>--sample_format gif</code>).</p>'
                     f'<div class="samples">{"".join(items)}</div>')
    return "".join(parts)


def build_report(runs: list[Run], out_dir: Path, status: dict | None = None) -> str:
    """The page for ``runs`` (one run: its report; several: a comparison), referencing files relative to
    ``out_dir``; ``status`` is stored in the page for later rebuilds."""
    out_dir = Path(out_dir)
    keys = sorted({k for run in runs for k in run.keys})
    panels = build_panels(keys)
    title = (f"Run report: {runs[0].name}" if len(runs) == 1
             else f"Run comparison: {', '.join(run.name for run in runs)}")
    body = []
    for sid, heading in SECTIONS:
        if sid == "summary":
            content = summary_section(runs)
        elif sid == "samples":
            content = _samples_html(runs, out_dir)
        else:
            charts = [_panel_html(p, runs, f"{sid}{i}") for i, p in enumerate(panels[sid])]
            charts = [c for c in charts if c]
            content = (f'<div class="charts">{"".join(charts)}</div>' if charts
                       else f'<p class="missing">{MISSING[sid]}</p>')
            if sid == "validation":
                content += f"<h3>Per future step</h3>{_per_step_html(runs, 'perstep')}{per_video_table(runs)}"
        body.append(f'<section id="{sid}"><h2>{e(heading)}</h2>{content}</section>')
    nav = " · ".join(f'<a href="#{sid}">{e(h)}</a>' for sid, h in SECTIONS)
    stored = json.dumps(status or {}, sort_keys=True, default=str).replace("</", "<\\/")
    made = time.strftime("%Y-%m-%d %H:%M:%S")
    legend = ("" if len(runs) == 1 else "<p>Line style per run: " + " ".join(
        f'<span class="key">{_swatch("#333333", DASHES[r % len(DASHES)])}{e(run.name)}</span>'
        for r, run in enumerate(runs)) + "</p>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{e(title)}</title><style>{CSS}</style>'
            f'<script type="application/json" id="{STATUS_ID}">{stored}</script></head>\n'
            f'<body><header><h1>{e(title)}</h1><p class="note">Built {e(made)} from metrics.jsonl, '
            f'config.json and samples/. Hover a legend entry for its metric key.</p>{legend}'
            f'<nav>{nav}</nav></header>\n' + "\n".join(body) + "\n</body></html>\n")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(run_dir: Path, status: dict | None = None) -> Path:
    """(Re)build ``run_dir/report.html`` atomically; ``status`` (state, device, ...) is merged over the one
    stored in the previous page."""
    run_dir = Path(run_dir)
    out = run_dir / REPORT_NAME
    merged = {**read_status(out), **(status or {})}
    _atomic_write(out, build_report([Run.load(run_dir, status=merged)], run_dir, merged))
    return out


def write_comparison(run_dirs: list[Path], out: Path) -> Path:
    """One page comparing several run folders, written atomically to ``out``."""
    out = Path(out)
    names = [Path(d).resolve().name for d in run_dirs]
    runs = []
    for i, d in enumerate(run_dirs):
        name = names[i] if names.count(names[i]) == 1 else f"{names[i]} ({i + 1})"
        runs.append(Run.load(Path(d), name, read_status(Path(d) / REPORT_NAME)))
    _atomic_write(out, build_report(runs, out.parent))
    return out
