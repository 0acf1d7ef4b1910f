"""Chi-square goodness of fit without scipy: the regularized upper incomplete gamma function."""

import math

import numpy as np


def upper_regularized_gamma(a, x):
    """Q(a, x) = Gamma(a, x) / Gamma(a): a series below a + 1, a continued fraction above
    (Numerical Recipes, `gammq`)."""
    if x <= 0:
        return 1.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return 1.0 - total * math.exp(log_prefactor)
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h * math.exp(log_prefactor)


def chi_square_p_value(observed, probabilities):
    """p-value of Pearson's chi-square test of counts `observed` against `probabilities`
    (which are normalized; degrees of freedom = number of bins - 1)."""
    observed = np.asarray(observed, float)
    probabilities = np.asarray(probabilities, float)
    expected = observed.sum() * probabilities / probabilities.sum()
    statistic = float(((observed - expected) ** 2 / expected).sum())
    return upper_regularized_gamma((len(observed) - 1) / 2, statistic / 2)
