"""The offline run report: built by the trainer from a real tiny run, rebuilt and compared by the command,
checked as HTML, for its file references, for what it says when data is missing, and in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import numpy as np
import pytest
from test_entry import ENTRY, ROOT, run_script, tiny_run_argv
from wubugaad.report import page as report
from wubugaad.report.data import SECTIONS, MetricsLog, build_panels, downsample, panel_for, per_step_key

REPORT_CLI = ROOT / "draftPY" / "wubugaad_report.py"
CHROMIUM = Path("/usr/bin/chromium")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SVG_VOID_OK = {"path", "line", "rect", "circle", "use", "stop", "polyline", "polygon", "ellipse"}


class Page(HTMLParser):
    """Strict enough: every non-void element closed in order; collects ids, references and charts."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.ids, self.refs, self.tags = [], [], [], [], []
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack[-5:]}")

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.append(a["id"])
        for name in ("src", "href"):
            if a.get(name) and not a[name].startswith("#"):
                self.refs.append(a[name])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def inside(self, section: str) -> list[tuple[str, dict]]:
        """The start tags between ``<section id=section>`` and the next section."""
        out, on = [], False
        for tag, a in self.tags:
            if tag == "section":
                on = a.get("id") == section
            elif on:
                out.append((tag, a))
        return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A real tiny training run with validation, Q-controller and gradient norms (its report written by
    the trainer at each validation and at the end)."""
    tmp = tmp_path_factory.mktemp("report")
    done = run_script(ENTRY, tiny_run_argv(tmp, "--max_steps", "4", "--epochs", "5", "--val_interval", "2",
                                           "--q_controller_enabled", "--log_grad_norm"), tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report.html not written" not in done.stdout + done.stderr
    return tmp / "run"


@pytest.fixture(scope="module")
def bare_run(tiny_run, tmp_path_factory) -> Path:
    """The same run with its validation and geometry keys and its samples removed."""
    bare = tmp_path_factory.mktemp("bare") / "bare"
    bare.mkdir()
    shutil.copy(tiny_run / "config.json", bare / "config.json")
    lines = []
    for line in (tiny_run / "metrics.jsonl").read_text().splitlines():
        record = {k: v for k, v in json.loads(line).items() if not k.startswith(("val/", "geometry/"))}
        if len(record) > 2:
            lines.append(json.dumps(record))
    (bare / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return bare


def _check_refs(page: Page, base: Path) -> list[Path]:
    files = []
    for ref in page.refs:
        assert "://" not in ref and not ref.startswith("//"), f"network reference {ref}"
        path = (base / unquote(ref)).resolve()
        assert path.is_file(), f"{ref} does not exist"
        files.append(path)
    return files


def test_trainer_writes_report_with_every_section(tiny_run):
    text = (tiny_run / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert not page.errors
    assert [s for s in page.ids if s in dict(SECTIONS)] == [sid for sid, _ in SECTIONS]
    for sid in ("losses", "validation", "geometry", "qcontrol", "gradnorms"):
        assert sum(t == "svg" and a.get("class") == "chart-svg" for t, a in page.inside(sid)) >= 1, sid
    assert report.read_status(tiny_run / "report.html") == {"device": "cpu", "state": "finished at step 4",
                                                            "world_size": 1}
    for needle in ("generator losses", "discriminator losses", "Δ PSNR: prediction − copy-last", "curvature",
                   "wubu_s L1", "rotation_orthogonality_error", "boundary_saturation", "lr / momentum scales",
                   "finished at step 4", "bench_psnr per future step"):
        assert needle in text, needle
    assert not list(tiny_run.glob(".report.html.*")), "temporary file left behind"


def test_report_references_only_existing_sample_files(tiny_run):
    page = Page((tiny_run / "report.html").read_text(encoding="utf-8"))
    files = _check_refs(page, tiny_run)
    names = {p.name for p in files}
    latest = max((p for p in (tiny_run / "samples").iterdir()), key=lambda p: p.stat().st_mtime)
    assert latest.name.split("_")[0] == "step4" and {"step4_prediction.png", "step4_prediction.mp4"} <= names
    assert not any(n.startswith("step2_") for n in names), "only the latest sample set is shown"


def test_missing_validation_geometry_and_samples_are_said(bare_run):
    done = subprocess.run([sys.executable, str(REPORT_CLI), str(bare_run)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    text = (bare_run / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert not page.errors and [s for s in page.ids if s in dict(SECTIONS)] == [sid for sid, _ in SECTIONS]
    for sid in ("validation", "geometry", "samples"):
        assert not any(t == "svg" for t, _ in page.inside(sid)), sid
        assert any(a.get("class") == "missing" for t, a in page.inside(sid)), sid
    assert "No validation metrics" in text and "No <code>geometry/…</code> keys" in text
    assert "No sample grids or clips" in text and "no val/pred_psnr logged" in text
    assert sum(a.get("class") == "chart-svg" for t, a in page.inside("losses")) == 2


def test_command_compares_runs_on_one_page(tiny_run, bare_run, tmp_path):
    out = tmp_path / "cmp" / "compare.html"
    out.parent.mkdir()
    done = subprocess.run([sys.executable, str(REPORT_CLI), str(tiny_run), str(bare_run), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert not page.errors
    assert "Run comparison: run, bare" in text and "not logged by: bare" in text
    assert "total · run" in text and "total · bare" in text
    assert len(_check_refs(page, out.parent)) >= 4  # samples referenced relative to the comparison page
    bad = subprocess.run([sys.executable, str(REPORT_CLI), str(tmp_path / "nope")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_reader_parses_only_complete_appended_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "train/loss_g_total": 1.0}\n{"step": 2, "train/loss_g_to')
    log = MetricsLog(path).refresh()
    assert log.lines == 1 and log.curve("train/loss_g_total")[1].tolist() == [1.0]
    with open(path, "a") as f:
        f.write('tal": 2.0}\nnot json\n[1]\n{"step": 1, "train/loss_g_total": 5.0, "new/key": 3}\n'
                '{"step": 3, "note": "text", "gone": null, "new/key": 4}\n')
    log.refresh()
    steps, values = log.curve("train/loss_g_total")
    assert steps.tolist() == [1, 2] and values.tolist() == [5.0, 2.0]  # a rewound step: the latest wins
    assert log.bad_lines == 2 and log.curve("new/key")[1].tolist() == [3.0, 4.0]
    assert "note" not in log.columns and "gone" not in log.columns and log.lines == 4
    path.write_text('{"step": 7, "x": 1}\n')  # rewritten: read again from the start
    assert log.refresh().lines == 1 and log.last_step == 7 and "train/loss_g_total" not in log.columns


def test_keys_are_grouped_by_prefix_so_new_keys_get_panels():
    assert panel_for("grad_norm/wubu_s") == ("gradnorms", "grad_norm/… per component", "wubu_s")
    assert panel_for("geometry/wubu_m/level2/curvature") == ("geometry", "curvature", "wubu_m L2")
    assert panel_for("geometry/wubu_t/boundary_saturation") == ("geometry", "boundary_saturation", "wubu_t")
    assert panel_for("val/copy_last_lpips") == ("validation", "lpips", "copy-last")
    assert panel_for("val/avg_val_recon_mse") == ("validation", "mse", "reconstruction")
    assert panel_for("brand_new/thing") == ("other", "brand_new", "thing")
    assert panel_for("val/pred_psnr_t3") is None and per_step_key("val/pred_psnr_t3") == ("pred_psnr", 3)
    assert per_step_key("val/copy_last_psnr/step10") == ("copy_last_psnr", 10)
    panels = build_panels(["val/pred_ssim", "val/copy_last_ssim", "val/bench_mse"])["validation"]
    assert [p.title for p in panels] == ["SSIM", "Δ SSIM: prediction − copy-last", "bench_mse"]


def test_prediction_both_baselines_and_the_learned_gain_are_drawn(tmp_path):
    keys = ["val/pred_psnr", "val/copy_last_psnr", "val/flow_extrap_psnr", "val/learned_gain_db"]
    panels = build_panels(keys)["validation"]
    psnr = next(p for p in panels if p.title == "PSNR")
    assert [label for label, _ in psnr.series] == ["prediction", "copy-last", "flow extrapolation"]
    gain = next(p for p in panels if p.title == "learned gain (dB)")
    assert gain.zero_line and gain.series == (("prediction − better baseline", "val/learned_gain_db"),)
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "val/pred_psnr": 24.0 + s, "val/copy_last_psnr": 22.0, "val/flow_extrap_psnr": 25.0,
             "val/learned_gain_db": s - 1.0} for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = report.write_report(run).read_text(encoding="utf-8")
    assert "flow extrapolation" in text and "learned gain (dB)" in text
    assert "+2.000 dB: prediction PSNR minus the better of copy-last and flow extrapolation" in text


def test_per_step_and_unknown_keys_are_drawn(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "train/loss_g_total": 1 / s, "brand_new/thing": s} for s in range(1, 6)]
    per_step = {f"val/{m}_psnr_t{k}": 30 - k - (m == "copy_last") for m in ("pred", "copy_last")
                for k in (1, 2, 3)}
    rows.append({"step": 5, **per_step})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = report.write_report(run).read_text(encoding="utf-8")
    page = Page(text)
    assert not page.errors and "config.json not found" in text
    assert "psnr per future step" in text and "brand_new" in text
    assert sum(a.get("class") == "chart-svg" for t, a in page.inside("other")) == 1


def test_downsample_keeps_extremes_and_leaves_data_alone():
    steps = np.arange(100_000, dtype=float)
    values = np.sin(steps / 777.0)
    values[31_337] = 9.0
    values[50_000] = np.inf
    before = values.copy()
    x, mean, low, high = downsample(steps, values, 400)
    assert x.size == mean.size == low.size == high.size == 400
    assert np.nanmax(high) == 9.0 and np.nanmin(low) == pytest.approx(-1.0, abs=1e-4)
    assert np.isnan(mean).sum() == 1  # the non-finite value is a gap, not a spike
    np.testing.assert_array_equal(values, before)
    assert downsample(steps[:10], values[:10], 400)[2] is None


def test_trainer_report_failure_is_one_warning(tmp_path, monkeypatch):
    from wubugaad.train import outputs

    said = []
    s = SimpleNamespace(dist=SimpleNamespace(is_main=True, device="cpu", world_size=1), run_dir=tmp_path,
                        tracker=SimpleNamespace(info=said.append))

    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "write_report", broken)
    outputs.build_report(s, "running")
    assert len(said) == 1 and said[0].startswith("warning: report.html not written")
    assert "disk full" in said[0]
    s.dist.is_main = False
    outputs.build_report(s, "running")
    assert len(said) == 1


def test_browser_renders_charts_without_console_errors(tiny_run, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("no browser: /usr/bin/chromium is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from PIL import Image

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            problems = []
            tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda exc: problems.append(str(exc)))
            tab.goto((tiny_run / "report.html").as_uri())
            tab.wait_for_load_state("load")
            charts = tab.locator("svg.chart-svg")
            sizes = [charts.nth(i).bounding_box() for i in range(charts.count())]
            images = tab.eval_on_selector_all("img.sample", "els => els.map(e => e.naturalWidth)")
            shot = tmp_path / "chart.png"
            charts.first.screenshot(path=str(shot))
            tab.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems
    assert len(sizes) >= 10 and all(b["width"] > 250 and b["height"] > 150 for b in sizes), sizes[:3]
    assert images and all(w > 0 for w in images)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    coloured = (pixels.max(axis=2) - pixels.min(axis=2)) > 80  # curves are coloured; axes, grid, text grey
    assert coloured.sum() > 200, "the chart shows no drawn curve"


def test_report_png_script_pictures_a_run_folder_and_refuses_bad_input(tiny_run, tmp_path):
    """bench/make_report_png.py (the README's docs/report.png): the run's rebuilt page, top part, at the
    asked size, with curves drawn; a folder that is not a run, or no browser, is one error line, exit 2."""
    script = ROOT / "bench" / "make_report_png.py"
    nope = tmp_path / "nope"
    missing = subprocess.run([sys.executable, str(script), str(tiny_run), "--browser", str(nope)],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "apt-get install chromium" in missing.stderr
    not_a_run = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                               timeout=60)
    assert not_a_run.returncode == 2 and "not a training run folder" in not_a_run.stderr
    if not CHROMIUM.exists():
        pytest.skip("no browser: /usr/bin/chromium is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from PIL import Image

    out = tmp_path / "pictures" / "report.png"
    done = subprocess.run([sys.executable, str(script), str(tiny_run), "--output", str(out), "--width", "900",
                           "--height", "700"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    image = Image.open(out).convert("RGB")
    assert image.size == (900, 700)
    pixels = np.asarray(image, dtype=int)
    assert ((pixels.max(axis=2) - pixels.min(axis=2)) > 80).sum() > 200, "no coloured curve in the picture"


def test_sampled_futures_best_mean_worst_and_strip_are_shown(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    heads = {f"val/sample_{r}_psnr": 20.0 + i for i, r in enumerate(("worst", "mean", "best"))}
    steps = {f"val/sample_{r}_psnr_t{k}": 25.0 - k + i for i, r in enumerate(("worst", "mean", "best"))
             for k in (1, 2)}
    rows = [{"step": 4, "val/pred_psnr": 21.0, "val/sample_diversity": 0.03, "val/sample_diversity_t1": 0.02,
             "val/sample_diversity_t2": 0.04, **heads, **steps}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "samples" / "step4_sampled_futures.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    psnr = next(p for p in build_panels(list(rows[0]))["validation"] if p.title == "PSNR")
    assert [label for label, _ in psnr.series][:1] == ["prediction"]
    assert {"best of N samples", "mean of N samples", "worst of N samples"} <= {lb for lb, _ in psnr.series}
    text = report.write_report(run).read_text(encoding="utf-8")
    assert not Page(text).errors
    assert "best / mean / worst of N samples: psnr per future step" in text
    assert "sample_diversity per future step" in text and "step4_sampled_futures.png" in text
