"""(Re)build the offline run report of training run folders.

    python draftPY/wubugaad_report.py RUN_DIR                 # writes RUN_DIR/report.html
    python draftPY/wubugaad_report.py RUN_A RUN_B -o cmp.html # one page comparing the runs

A run folder is what training writes (``--checkpoint_dir``, or ``--checkpoint_dir/--run_name``):
``metrics.jsonl``, ``config.json`` and ``samples/``. The page needs no network: charts are inline SVG and
samples are referenced relative to the page, so keep the page next to (or above) the run folders.
Exit codes: 0 written, 2 bad input (one ``error: ...`` line on stderr).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # never a GUI backend, whatever the environment asks for

from wubugaad.report.page import REPORT_NAME, write_comparison, write_report  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="training run folder(s)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help=f"page to write (default: RUN_DIR/{REPORT_NAME} for one run, "
                        "report_comparison.html in the current folder for several)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for d in args.run_dirs:
        if not d.is_dir():
            print(f"error: {d} is not a folder", file=sys.stderr)
            return 2
        if not (d / "metrics.jsonl").is_file() and not (d / "config.json").is_file():
            print(f"error: {d} holds neither metrics.jsonl nor config.json: not a training run folder",
                  file=sys.stderr)
            return 2
    start = time.perf_counter()
    if len(args.run_dirs) == 1 and args.output is None:
        out = write_report(args.run_dirs[0])
    else:
        out = write_comparison(args.run_dirs, args.output or Path("report_comparison.html"))
    print(f"wrote {out} in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
