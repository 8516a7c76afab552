"""WuBu nesting: hyperbolic levels, SO(n) transitions between them, and the S/M/T stacks built from them."""
