"""The golden ratio φ = (1 + √5)/2: the one definition that GAAD's boxes and spiral, the φ-sinusoidal time
embedding, the φ-scaled curvatures and the φ-based rotation angles share."""

from __future__ import annotations

import math

__all__ = ["PHI"]

PHI = (1.0 + math.sqrt(5.0)) / 2.0
