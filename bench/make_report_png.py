"""Render a run folder's report to a PNG with the distribution's Chromium: the picture docs/report.png.

    python3 bench/make_report_png.py RUN_DIR [--output docs/report.png] [--width 1280] [--height 2600]

Rebuilds ``RUN_DIR/report.html`` from the run folder with today's report code (so the picture never shows
an older page than the code writes), opens it in headless Chromium (``/usr/bin/chromium``: ``apt-get install
chromium``; another binary with ``--browser``) through playwright, waits until the page has loaded, and
writes a screenshot of the top ``--height`` pixels of the page at ``--width`` (run summary, losses,
validation against copy-last, geometry). The README shows the README demo's own run:

    python3 draftPY/WuBuGAADHybridGen_v0.1.py            # in the project root: the quick demo
    python3 bench/make_report_png.py wubugaad_hybridgen_checkpoints_v01

Exit codes: 0 written; 2 bad input (no run folder, no browser, no playwright) — one ``error: ...`` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _common  # first: it puts draftPY/ on the import path
from wubugaad.report.page import write_report

CHROMIUM = Path("/usr/bin/chromium")
DEFAULT_OUTPUT = _common.REPO / "docs" / "report.png"


def render(page: Path, out: Path, browser: Path, width: int, height: int) -> None:
    """Screenshot of the top ``height`` pixels of ``page`` at viewport width ``width``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(browser), args=["--no-sandbox"])
        try:
            tab = chromium.new_page(viewport={"width": width, "height": height})
            tab.goto(page.resolve().as_uri())
            tab.wait_for_load_state("load")
            out.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": width, "height": height})
        finally:
            chromium.close()


def problem(opts: argparse.Namespace) -> str | None:
    """What stops the picture before anything is drawn, as one line (None when nothing does)."""
    run = opts.run_dir
    if not (run / "metrics.jsonl").is_file() and not (run / "config.json").is_file():
        return f"{run} holds neither metrics.jsonl nor config.json: not a training run folder"
    if not opts.browser.is_file():
        return f"no browser at {opts.browser} (apt-get install chromium, or pass --browser PATH)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; its browsers are not needed)"
    if opts.width < 320 or opts.height < 200:
        return f"--width {opts.width} / --height {opts.height}: too small for the page (at least 320 x 200)"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, help="training run folder (metrics.jsonl, config.json, samples/)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="PNG to write")
    p.add_argument("--browser", type=Path, default=CHROMIUM, help="Chromium binary")
    p.add_argument("--width", type=int, default=1280, help="page width in pixels")
    p.add_argument("--height", type=int, default=2600, help="pixels of the page, from its top, shown")
    opts = p.parse_args(argv)
    why = problem(opts)
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2
    page = write_report(opts.run_dir)
    render(page, opts.output, opts.browser, opts.width, opts.height)
    print(f"wrote {opts.output} from {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
