"""Typed configurations for tests: the parser's defaults with a few settings replaced, not validated
(so a test can reach a module's own checks)."""

from wubugaad.model.config import ModelConfig
from wubugaad.train.config import build_parser


def defaults(**overrides):
    """The parser's default namespace with ``overrides`` (flag names) set; unknown names are an error."""
    args = build_parser().parse_args([])
    for name, value in overrides.items():
        if not hasattr(args, name):
            raise AttributeError(f"no flag named {name!r}")
        setattr(args, name, value)
    return args


def model_config(**overrides) -> ModelConfig:
    """A `ModelConfig` of the parser's defaults with ``overrides`` applied."""
    return ModelConfig.from_args(defaults(**overrides))
