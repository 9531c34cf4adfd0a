"""Statistics for sampling tests: a chi-square test of counts against exact probabilities."""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats


def chi2_pvalue(counts: dict[int, int], probs: np.ndarray) -> float:
    """p-value of observed integer-keyed counts against exact probabilities (small bins pooled)."""
    shots = sum(counts.values())
    observed = np.zeros(len(probs))
    for k, c in counts.items():
        observed[k] += c
    assert observed[probs < 1e-15].sum() == 0, "an impossible outcome was sampled"
    expected = probs * shots
    big = expected >= 5
    o = list(observed[big]) + ([observed[~big].sum()] if expected[~big].sum() > 0 else [])
    e = list(expected[big]) + ([expected[~big].sum()] if expected[~big].sum() > 0 else [])
    if len(e) < 2:
        return 1.0
    stat = sum((a - b) ** 2 / b for a, b in zip(o, e, strict=True))
    return float(scipy_stats.chi2.sf(stat, len(e) - 1))
