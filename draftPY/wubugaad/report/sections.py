"""The run report's style sheet and its run-summary section (config highlights, progress, state)."""

from __future__ import annotations

import html
import json
import time

from wubugaad.report.data import PER_VIDEO, Run, fmt_value, per_video_key

__all__ = ["CSS", "summary_section", "HIGHLIGHTS"]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1500px;
padding:0 16px 40px;color:#222;background:#fff}
header{border-bottom:1px solid #ddd;margin-bottom:8px}h1{font-size:22px;margin:16px 0 4px}
h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #eee}h3{font-size:15px;margin:14px 0 6px}
nav a{color:#1f5fa8;text-decoration:none}.note{color:#666;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:10px}
figure.chart{margin:0;border:1px solid #e4e4e4;border-radius:4px;padding:6px 8px;background:#fcfcfc}
figure.chart figcaption{font-size:13px;overflow-wrap:anywhere}
svg.chart-svg{display:block;width:100%;height:auto}
.legend{font-size:12px;display:flex;flex-wrap:wrap;gap:2px 12px}.key{white-space:nowrap}
.swatch{vertical-align:middle;margin-right:4px}.last{color:#666}
.absent{font-size:12px;color:#a05a00}
p.missing{background:#fff6e5;border-left:4px solid #e0a030;padding:6px 10px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #e0e0e0;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f5f5f5}td.diff{background:#fff2cc}
.samples{display:flex;flex-wrap:wrap;gap:12px}.sample-item{margin:0}
img.sample,video.sample{display:block;width:min(100%,480px);min-width:240px;image-rendering:pixelated;
border:1px solid #ddd;background:#000}.sample-item figcaption{font-size:12px;color:#555}
.sample-item a{font-size:12px}
.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1px 16px;font-size:13px}
.kv div{overflow-wrap:anywhere;border-bottom:1px dotted #e6e6e6}code{background:#f3f3f3;padding:0 3px}
"""
# config entries worth seeing first; keys that differ between compared runs are added to these
HIGHLIGHTS = ("video_data_path", "validation_video_path", "image_h", "image_w", "num_input_frames",
              "num_predict_frames", "batch_size", "grad_accum_steps", "epochs", "max_steps", "optimizer",
              "learning_rate_gen", "learning_rate_disc", "q_controller_enabled", "lambda_recon",
              "lambda_kl", "lambda_gan", "latent_dim", "prior", "gaad_num_regions", "wubu_s_num_levels",
              "wubu_t_num_levels", "use_wubu_motion_branch", "wubu_m_num_levels", "wubu_s_ablate",
              "wubu_t_ablate", "wubu_m_ablate", "discriminator_type", "use_amp", "amp_dtype",
              "val_primary_metric", "seed")
# paths that differ between any two runs and say nothing about the configuration
_NOT_A_DIFFERENCE = ("checkpoint_dir", "cache_dir", "run_name", "wandb_run_name", "load_checkpoint")


def e(text) -> str:
    return html.escape(str(text), quote=True)


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    h, rest = divmod(seconds, 3600)
    return f"{h}h {rest // 60:02d}m {rest % 60:02d}s" if h else f"{rest // 60}m {rest % 60:02d}s"


def _wall_time(run: Run) -> str:
    """From ``config.json`` (written when the run (re)starts) to the last metrics line."""
    try:
        start = (run.folder / "config.json").stat().st_mtime
        end = (run.folder / "metrics.jsonl").stat().st_mtime
    except OSError:
        return "unknown (config.json or metrics.jsonl missing)"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(start))
    return f"≈ {_duration(end - start)} since the (re)start at {stamp}"


def _state(run: Run) -> str:
    if run.status.get("state"):
        return str(run.status["state"])
    if any(run.folder.glob("*_last.pt")):
        return "ended (a _last checkpoint exists; state not recorded)"
    return "running, or stopped before saving a _last checkpoint (state not recorded)"


def _best(run: Run) -> str:
    metric = run.config.get("val_primary_metric", "avg_val_psnr")
    steps, values = run.log.curve(f"val/{metric}")
    if steps.size == 0:
        return f"no val/{metric} logged"
    lower = any(w in metric for w in ("mse", "mae", "lpips"))
    i = int(values.argmin() if lower else values.argmax())
    return f"{metric} = {fmt_value(values[i])} at step {int(steps[i])} (last {fmt_value(values[-1])})"


def _last_validation(run: Run) -> str:
    pairs = [(k[len("val/pred_"):], k) for k in run.keys if k.startswith("val/pred_")]
    cells = []
    for metric, key in pairs:
        _, pred = run.log.curve(key)
        _, copy = run.log.curve(f"val/copy_last_{metric}")
        _, flow = run.log.curve(f"val/flow_extrap_{metric}")
        if pred.size:
            deltas = [f"Δ {name} {pred[-1] - base[-1]:+.4g}"
                      for name, base in (("copy-last", copy), ("flow extrapolation", flow)) if base.size]
            cells.append(f"{metric} {fmt_value(pred[-1])}" + (f" ({', '.join(deltas)})" if deltas else ""))
    return "; ".join(cells) if cells else "no prediction metrics logged"


def _learned_gain(run: Run) -> str:
    _, gain = run.log.curve("val/learned_gain_db")
    if not gain.size:
        return "not logged (no validation with context frames yet)"
    return (f"{gain[-1]:+.3f} dB: prediction PSNR minus the better of copy-last and flow extrapolation "
            f"(best {gain.max():+.3f} dB)")


def _rows(run: Run) -> dict[str, str]:
    log = run.log
    if log.lines:
        steps = f"{log.first_step} → {log.last_step} ({log.lines} logged lines, {len(log.columns)} keys)"
    else:
        steps = "nothing logged (metrics.jsonl missing or empty)"
    if log.bad_lines:
        steps += f"; {log.bad_lines} unreadable line(s) skipped"
    val_steps = sorted({int(s) for k in run.keys if k.startswith("val/") for s in log.curve(k)[0]})
    device = run.status.get("device", "not recorded")
    if run.status.get("world_size", 1) not in (1, None):
        device = f"{device} × {run.status['world_size']} processes"
    return {"folder": str(run.folder), "state": _state(run), "device": device, "steps": steps,
            "last epoch": "—" if log.last_epoch is None else str(log.last_epoch),
            "wall time": _wall_time(run),
            "validations": (f"{len(val_steps)} (last at step {val_steps[-1]})" if val_steps else "none"),
            "best": _best(run), "learned gain": _learned_gain(run), "last prediction": _last_validation(run),
            "config": run.config_error or f"{len(run.config)} settings"}


def per_video_table(runs: list[Run]) -> str:
    """Each video's figures at each run's last validation (a validation set of several videos), or ""."""
    _, metrics, headings = PER_VIDEO
    rows = []
    for run in runs:
        videos = sorted({found[0] for k in run.keys if (found := per_video_key(k))})
        for video in videos:
            cells = []
            for metric in metrics:
                _, values = run.log.curve(f"val/{PER_VIDEO[0]}/{video}/{metric}")
                cells.append(fmt_value(values[-1]) if values.size else "—")
            name = video if len(runs) == 1 else f"{video} · {run.name}"
            rows.append(f"<tr><th>{e(name)}</th>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    head = "".join(f"<th>{e(h)}</th>" for h in headings)
    return (f'<h3>Per video</h3><p class="note">Last validation; learned gain = prediction PSNR − the '
            f'better of copy-last and flow extrapolation on that video\'s windows.</p>'
            f'<table><tr><th>video</th>{head}</tr>{"".join(rows)}</table>')


def _config_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def summary_section(runs: list[Run]) -> str:
    """Progress rows, config highlights (plus every setting that differs between runs), full config."""
    rows = [_rows(run) for run in runs]
    head = "".join(f"<th>{e(run.name)}</th>" for run in runs)
    table = [f"<table><tr><th></th>{head}</tr>"]
    for field in rows[0]:
        table.append(f"<tr><th>{e(field)}</th>" + "".join(f"<td>{e(r[field])}</td>" for r in rows) + "</tr>")
    table.append("</table>")
    every = sorted({k for run in runs for k in run.config})

    def differs(key: str) -> bool:
        return len({_config_value(run.config.get(key, "—")) for run in runs}) > 1

    diff = [k for k in every if len(runs) > 1 and k not in _NOT_A_DIFFERENCE and differs(k)]
    chosen = [k for k in HIGHLIGHTS if any(k in run.config for run in runs)]
    chosen += [k for k in diff if k not in chosen]

    def config_table(keys: list[str]) -> str:
        if len(runs) == 1:  # one run: a compact grid of setting = value
            return '<div class="kv">' + "".join(
                f"<div><b>{e(k)}</b> {e(_config_value(runs[0].config[k]))}</div>" for k in keys) + "</div>"
        out = [f"<table><tr><th>setting</th>{head}</tr>"]
        for k in keys:
            cls = ' class="diff"' if k in diff else ""
            out.append(f"<tr><th>{e(k)}</th>" + "".join(
                f"<td{cls}>{e(_config_value(run.config[k]) if k in run.config else '—')}</td>"
                for run in runs) + "</tr>")
        return "".join(out) + "</table>"

    if not chosen:
        config = '<p class="missing">No config.json: the run folder holds no resolved settings.</p>'
    else:
        note = " Settings that differ between the runs are highlighted." if diff else ""
        config = (f"<h3>Configuration highlights</h3><p class=\"note\">From config.json.{note}</p>"
                  f"{config_table(chosen)}<details><summary>All {len(every)} settings</summary>"
                  f"{config_table(every)}</details>")
    return "".join(table) + config
