"""The null model of the copy decision: how close real images that were never trained on come.

A copy decision is a statistical claim: "this synthetic image is closer to a training image
than a real image that was never trained on would be". The baseline images (the held-out real
set, or leave-one-out reference images) are scored against the reference set by exactly the
same search and alignment as the synthetic images, so their scores are the null distribution
of the score, transforms and all (searching more transforms raises the null too, and the null
sees that).

Scores are NCC values close to 1, so they are modelled on u = -log(1 - NCC). Only the upper
tail matters (a baseline image very unlike every training image says nothing about how close
a copy must come), so the model is fitted to the upper half: centre m = the median of the K
baseline scores and spread s = the root mean square of the d = #{u > m} excesses u - m (the
standard deviation, for a normal). A new null score is then predicted (before it is seen,
with centre and spread estimated) as
    u ~ m + s * sqrt(1 + 1/K) * T(d)                         (Student t with d degrees of freedom)
This accounts for the size of the baseline: an extreme quantile of 24 images is not a 99th
percentile, and the predictive tail says how far beyond the sample the quantile may lie.

- Copy threshold: the NCC whose predictive tail probability is `flag_rate` (default 1 %), and
  never below the empirical (1 - flag_rate) quantile of the baseline nor `ncc_floor`.
  A synthetic image at or above it is flagged for review as a probable copy.
- Per-image p-value: the predictive tail probability of its score (the larger of that and the
  conformal p-value (1 + #{baseline >= score}) / (K + 1) when the score lies inside the sample).
- Excess test (the audit's status): under the null each synthetic image crosses the threshold
  with probability p, uncertain because m and s are estimated. p_high is the 95th percentile of
  the crossing probability over the posterior of (m, s) (normal-inverse-chi-squared with a flat
  prior, 4000 seeded draws). The count E of synthetic images over the threshold is tested
  against Binomial(n, p_high): P(X >= E). A clean set (exchangeable with the baseline) fails
  this test at most at its level, however many images it has.
- Extreme image test: the smallest per-image p-value times n (Bonferroni): a single copy far
  beyond anything real images show is significant even when copies are few.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

_U_CAP = -np.log(1e-7)  # NCC 1 - 1e-7: identical images


def to_u(ncc: np.ndarray | float) -> np.ndarray:
    """u = -log(1 - NCC), capped for identical images."""
    values = np.clip(np.asarray(ncc, dtype=np.float64), -1.0, 1.0)
    return np.minimum(-np.log1p(-np.minimum(values, 1.0 - 1e-7)), _U_CAP)


def from_u(u: float) -> float:
    return float(-np.expm1(-u))


@dataclass
class NullModel:
    """Baseline scores on the u scale and the normal prediction fitted to them."""

    u: np.ndarray  # sorted baseline scores
    mean: float  # the centre: median of u
    sd: float  # the upper semi-deviation
    df: int  # scores above the centre

    @property
    def k(self) -> int:
        return int(self.u.size)

    @property
    def usable(self) -> bool:
        """At least 2 scores above the centre with some spread: below that there is no prediction."""
        return self.df >= 2 and self.sd > 0

    def _scale(self) -> float:
        return self.sd * float(np.sqrt(1.0 + 1.0 / self.k))

    def threshold(self, flag_rate: float, floor: float) -> float:
        """NCC of the copy threshold (module docstring)."""
        candidates = [floor]
        if self.k:
            candidates.append(from_u(float(np.quantile(self.u, 1.0 - flag_rate))))
        if self.usable:
            candidates.append(from_u(self.mean + self._scale() * float(stats.t.isf(flag_rate, self.df))))
        return max(candidates)

    def p_values(self, ncc: np.ndarray) -> np.ndarray:
        """Per-image probability that a real, never-trained-on image scores this high or higher."""
        u = to_u(ncc)
        conformal = (1.0 + self.k - np.searchsorted(self.u, u, side="left")) / (self.k + 1.0)
        if not self.usable:
            return conformal
        predictive = stats.t.sf((u - self.mean) / self._scale(), self.df)
        inside = u <= self.u[-1]
        return np.where(inside, np.maximum(conformal, predictive), predictive)

    def crossing_rate_high(self, threshold: float, seed: int, draws: int = 4000) -> float:
        """95th percentile, over the posterior of (mean, sd), of P(null score >= threshold)."""
        if not self.usable:
            return 1.0 / (self.k + 1.0)
        rng = np.random.default_rng(seed)
        variance = self.df * self.sd**2 / rng.chisquare(self.df, draws)
        means = rng.normal(self.mean, np.sqrt(variance / self.k))
        rates = stats.norm.sf((to_u(threshold) - means) / np.sqrt(variance))
        empirical = (1.0 + float((self.u >= to_u(threshold)).sum())) / (self.k + 1.0)
        # with a large baseline the sample itself bounds the rate better than the normal model's tail
        return (
            float(min(np.quantile(rates, 0.95), 1.0))
            if self.k < 200
            else float(max(min(np.quantile(rates, 0.95), 1.0), empirical))
        )


def null_model(baseline_ncc: np.ndarray) -> NullModel:
    u = np.sort(to_u(baseline_ncc[np.isfinite(baseline_ncc)]))
    if u.size == 0:
        return NullModel(u=u, mean=0.0, sd=0.0, df=0)
    centre = float(np.median(u))
    excess = u[u > centre] - centre
    spread = float(np.sqrt(np.mean(excess**2))) if excess.size else 0.0
    return NullModel(u=u, mean=centre, sd=spread, df=int(excess.size))


def excess_p_value(count: int, n: int, rate: float) -> float:
    """P(X >= count) for X ~ Binomial(n, rate): how surprising `count` crossings are under the null."""
    if count <= 0:
        return 1.0
    return float(stats.binom.sf(count - 1, n, min(max(rate, 0.0), 1.0)))
