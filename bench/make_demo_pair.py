"""Write the held-out synthetic pair of demo videos (training: seed 1, validation: seed 2) into a folder.

    python3 bench/make_demo_pair.py OUT_DIR [--size 64]

Prints the two paths, e.g. for an ablation study's base configuration::

    set -- $(python3 bench/make_demo_pair.py bench_out/demo)
    python3 draftPY/wubugaad_ablate.py ... -- --video_data_path "$1" --validation_video_path "$2"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import demo_pair


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder for the two videos (created)")
    p.add_argument("--size", type=int, default=64, help="frame side in pixels (square frames)")
    opts = p.parse_args(argv)
    train, val = demo_pair(opts.out, opts.size, opts.size)
    print(train, val)
    return 0


if __name__ == "__main__":
    sys.exit(main())
