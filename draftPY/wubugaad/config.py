"""The command line's public entry point, kept at `wubugaad.config` for scripts and outside checks.

The parser itself lives in `wubugaad.train.config`.
"""

from wubugaad.train.config import build_parser, parse_args

__all__ = ["build_parser", "parse_args"]
