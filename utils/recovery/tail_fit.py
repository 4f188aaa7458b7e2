"""How far out the noise reaches: the bar a false-alarm budget asks for (Phase 20).

A detector with a budget of p false alarms per step must fire only above the (1 - p) quantile of
its residuals. For p = 1e-4 (one per 10,000 steps) that quantile lies beyond almost every value it
has seen: with 5,000 residuals, about one is above it. So the quantile must be extrapolated from
the part of the tail the data do show, and how it is extrapolated is a modelling choice. Three are
here, each returning the bar (in the units of the residuals) from the same ``TailHistogram``:

- ``gpd``: peaks over threshold. Above a high threshold u (the top 5 % of the residuals), the
  excesses are fitted with a generalised Pareto distribution (extreme-value theory: for almost any
  noise, excesses over a high threshold look like one), shape xi and scale sigma by probability
  weighted moments; then ``u + sigma / xi * ((zeta / p) ** xi - 1)``, zeta the fraction above u.
  xi > 0 is a heavy (power-law) tail, xi = 0 an exponential one, xi < 0 a bounded one (Gaussian
  noise fits a slightly negative xi at these thresholds).
- ``student-t``: a Student-t fitted to the upper half (median, upper quartile, and the quantile at
  the threshold fix location, scale and degrees of freedom), then its (1 - p) quantile.
- ``empirical``: the empirical quantile where the data reach it (at least 10 residuals beyond it),
  else the highest quantile they do reach plus an exponential tail (the mean excess over it times
  ln of how many times rarer the budget is).

Estimating a tail from few values is noisy, and a bar that is too low costs false alarms (a bar
that is too high only costs recall). ``gpd`` and ``student-t`` therefore shrink the tail shape
towards a heavy prior (xi = 0.3, a Student-t with about 3 degrees of freedom) with the weight of
``PRIOR_COUNT`` tail values, and add ``MARGIN`` standard errors of the shape: with little data the
bar is conservative, with thousands of residuals both fade. ``MARGIN`` was set on traces of the
generator (``utils.recovery.traces``) with seeds other than those the benchmark reports.

The histogram forgets: each residual's weight is 1 / (1 - 1/memory) times the previous one's, so
a residual ``memory`` steps old counts e^-1 as much as a new one. Bins are equally wide in
asinh(z) (fine near 0, about 1 % of z in the tail); a value is represented by its bin's centre.
Adding a value is O(1); a fit walks the occupied upper bins, O(bins).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

BIN_WIDTH = 0.01                  # in asinh(z)
Z_RANGE = 8.0                     # asinh(z) in [-8, 8): |z| up to about 1490
N_BINS = int(2 * Z_RANGE / BIN_WIDTH)
CENTRES = [math.sinh(-Z_RANGE + (i + 0.5) * BIN_WIDTH) for i in range(N_BINS)]
TAIL_FRACTION = 0.05              # the threshold u: the top 5 % of the residuals ...
MIN_TAIL = 10                     # ... but at least this many of them
XI_PRIOR, PRIOR_COUNT, MARGIN = 0.3, 30.0, 1.0
XI_RANGE = (-0.4, 0.8)
METHODS = ("gpd", "student-t", "empirical")


class TailHistogram:
    """An exponentially forgetting histogram of residuals (see the module docstring)."""

    def __init__(self, memory: float = 8192.0):
        self.memory = float(memory)
        self.grow = 1.0 / (1.0 - 1.0 / self.memory)
        self.bins = [0.0] * N_BINS
        self.weight = 1.0                 # the weight the next value gets
        self.total = 0.0                  # sum of weights
        self.total2 = 0.0                 # sum of squared weights (for the effective count)
        self.top = -1                     # highest occupied bin

    def add(self, z: float) -> None:
        """Count one residual (O(1))."""
        i = int((math.asinh(z) + Z_RANGE) / BIN_WIDTH)
        i = 0 if i < 0 else (N_BINS - 1 if i >= N_BINS else i)
        w = self.weight
        self.bins[i] += w
        self.total += w
        self.total2 += w * w
        if i > self.top:
            self.top = i
        self.weight = w * self.grow
        if self.weight > 1e100:           # rescale everything; the proportions do not change
            self.bins = [b * 1e-100 for b in self.bins]
            self.total *= 1e-100
            self.total2 *= 1e-200
            self.weight *= 1e-100

    def count(self) -> float:
        """The effective number of residuals (the forgetting makes old ones count less)."""
        return self.total * self.total / self.total2 if self.total2 > 0 else 0.0

    def upper(self, fraction: float) -> tuple[float, float, list[tuple[float, float]]]:
        """(u, zeta, [(value, weight), ... ascending]) for the smallest top set of bins that holds
        at least ``fraction`` of the weight; u is the lower edge of its lowest bin, zeta the share
        of the weight above u."""
        need, acc, i = fraction * self.total, 0.0, self.top
        values: list[tuple[float, float]] = []
        bins = self.bins
        while i >= 0 and acc < need:
            b = bins[i]
            if b:
                acc += b
                values.append((CENTRES[i], b))
            i -= 1
        u = math.sinh(-Z_RANGE + (i + 1) * BIN_WIDTH)
        values.reverse()
        return u, acc / self.total, values

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of the weight lies (bin centre)."""
        need, acc = (1.0 - q) * self.total, 0.0
        for i in range(self.top, -1, -1):
            acc += self.bins[i]
            if acc >= need:
                return CENTRES[i]
        return CENTRES[0]

    def state_dict(self) -> dict[str, Any]:
        """Sparse: only occupied bins ({index: weight} with string keys, JSON-safe)."""
        return {"memory": self.memory, "bins": {str(i): b for i, b in enumerate(self.bins) if b},
                "weight": self.weight, "total": self.total, "total2": self.total2}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__init__(float(state["memory"]))
        for i, b in state["bins"].items():
            self.bins[int(i)] = float(b)
        self.top = max((int(i) for i in state["bins"]), default=-1)
        self.weight, self.total, self.total2 = (float(state[k]) for k in ("weight", "total", "total2"))


def _shape(xi: float, k: float) -> float:
    """Shrink a fitted tail shape towards the prior and add the safety margin (module docstring)."""
    xi = (k * xi + PRIOR_COUNT * XI_PRIOR) / (k + PRIOR_COUNT)
    xi += MARGIN * (1.0 + abs(xi)) / math.sqrt(k + PRIOR_COUNT)
    return min(max(xi, XI_RANGE[0]), XI_RANGE[1])


def _threshold(hist: TailHistogram) -> tuple[float, float, list[tuple[float, float]], float]:
    fraction = max(TAIL_FRACTION, MIN_TAIL / max(hist.count(), 1.0))
    u, zeta, values = hist.upper(min(fraction, 0.5))
    return u, zeta, values, zeta * hist.count()          # k: effective number of tail values


def gpd_bar(hist: TailHistogram, p: float) -> float:
    """Peaks over threshold with a generalised Pareto tail (module docstring)."""
    u, zeta, values, k = _threshold(hist)
    total = sum(w for _, w in values)
    b0 = b1 = acc = 0.0
    for z, w in values:                                   # probability weighted moments
        y = z - u
        b0 += w * y
        b1 += w * y * (acc + 0.5 * w) / total
        acc += w
    b0, b1 = b0 / total, b1 / total
    a1 = b0 - b1                                          # E[Y (1 - F(Y))]
    denominator = b0 - 2.0 * a1
    xi = 2.0 - b0 / denominator if denominator > 1e-12 else XI_RANGE[1]
    xi = _shape(min(max(xi, XI_RANGE[0]), XI_RANGE[1]), k)
    sigma = b0 * (1.0 - xi)                               # keeps the fitted mean excess
    if zeta <= p:
        return u
    ratio = zeta / p
    return u + (sigma * math.log(ratio) if abs(xi) < 1e-9 else sigma / xi * (ratio ** xi - 1.0))


def student_t_bar(hist: TailHistogram, p: float) -> float:
    """A Student-t matched to the median, the upper quartile and the threshold quantile."""
    u, zeta, _, k = _threshold(hist)
    median, upper_quartile = hist.quantile(0.5), hist.quantile(0.75)
    spread = max(upper_quartile - median, 1e-12)
    shape_ratio = (u - median) / spread
    nus = _nu_grid()
    zeta = float(f"{zeta:.2g}")                           # rounded: t_quantile's cache then hits
    table = [t_quantile(nu, 1.0 - zeta) / t_quantile(nu, 0.75) for nu in nus]
    nu = nus[-1]
    for candidate, r in zip(nus, table):                  # ratios fall as nu grows
        if r <= shape_ratio:
            nu = candidate
            break
    nu = float(f"{1.0 / _shape(1.0 / nu, k):.2g}")
    return median + spread * t_quantile(nu, 1.0 - p) / t_quantile(nu, 0.75)


def empirical_bar(hist: TailHistogram, p: float) -> float:
    """The empirical quantile, with an exponential tail beyond the data (module docstring)."""
    n = hist.count()
    if n * p >= MIN_TAIL:
        return hist.quantile(1.0 - p)
    u, zeta, values = hist.upper(min(MIN_TAIL / max(n, 1.0), 0.5))
    total = sum(w for _, w in values)
    mean_excess = sum(w * (z - u) for z, w in values) / total
    return u + mean_excess * math.log(max(zeta / p, 1.0))


BARS = {"gpd": gpd_bar, "student-t": student_t_bar, "empirical": empirical_bar}


@lru_cache(maxsize=1)
def _nu_grid() -> list[float]:
    return [1.5 * 1.2 ** i for i in range(30)]            # 1.5 .. about 350


@lru_cache(maxsize=4096)
def t_quantile(nu: float, q: float) -> float:
    """The q quantile (q > 0.5) of a Student-t with nu degrees of freedom (bisection on the CDF)."""
    lo, hi = 0.0, 1.0
    while _t_upper(nu, hi) > 1.0 - q:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _t_upper(nu, mid) > 1.0 - q else (lo, mid)
    return 0.5 * (lo + hi)


def _t_upper(nu: float, t: float) -> float:
    """P(T > t) for t >= 0: half the regularised incomplete beta I_x(nu/2, 1/2), x = nu/(nu+t^2)."""
    return 0.5 * _beta_inc(0.5 * nu, 0.5, nu / (nu + t * t))


def _beta_inc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by its continued fraction (modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):                     # converges faster on the other side
        return 1.0 - _beta_inc(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / (c if abs(c) > tiny else tiny)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return front * h / a
