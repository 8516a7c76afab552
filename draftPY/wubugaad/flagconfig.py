"""Base of the typed configurations that modules are built from (docs/ARCHITECTURE.md, "Configuration").

A typed configuration is a frozen dataclass whose field names are command-line flag names. It is made once
from the parser's namespace (or any object carrying those attributes) by ``from_args``, which copies exactly
its own fields: defaults live in the parser alone, so a missing field is an error, never a silent default.
Lists become tuples, so a built configuration cannot change under the modules that read it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["FlagConfig"]

C = TypeVar("C", bound="FlagConfig")


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


@dataclasses.dataclass(frozen=True)
class FlagConfig:
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_args(cls: type[C], source: Any) -> C:
        """``source`` itself when it already is a ``cls``; else a ``cls`` of its attributes named like
        the fields (``TypeError`` naming every missing one)."""
        if isinstance(source, cls):
            return source
        names = cls.field_names()
        missing = [name for name in names if not hasattr(source, name)]
        if missing:
            raise TypeError(f"{cls.__name__} needs the settings {', '.join(missing)}: pass the namespace of "
                            f"wubugaad.config.parse_args (it sets every flag) or a {cls.__name__}")
        return cls(**{name: _frozen(getattr(source, name)) for name in names})

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` (flag names) applied."""
        return dataclasses.replace(self, **{k: _frozen(v) for k, v in changes.items()})
