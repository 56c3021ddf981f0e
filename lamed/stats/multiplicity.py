"""Many comparisons: adjusted p-values, as statsmodels' multipletests
computes them. The method names are the settings' (lamed.core.settings)."""

from __future__ import annotations

from collections.abc import Sequence

from lamed.core.settings import BENJAMINI_HOCHBERG, COMPARISON_CORRECTIONS, DEFAULTS, HOLM


def adjust_p_values(p_values: Sequence[float], method: str = DEFAULTS.comparison_correction) -> list[float]:
    """Holm-Bonferroni (HOLM: controls the family-wise error rate) or
    Benjamini-Hochberg (BENJAMINI_HOCHBERG: the false discovery rate)
    adjusted p-values, in input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == HOLM:
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, (m - rank) * p_values[i])
            adjusted[i] = min(1.0, running)
    elif method == BENJAMINI_HOCHBERG:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, p_values[i] * m / (rank + 1))
            adjusted[i] = min(1.0, running)
    else:
        raise ValueError(f"method must be one of {', '.join(COMPARISON_CORRECTIONS)}, got {method!r}")
    return adjusted
