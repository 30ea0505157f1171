"""Early warning: a call driver surging in one area / queue / team against its recent baseline.

Counts per (driver, dimension value) per bucket (hour or day) come from ``call_analytics``
(:func:`qa_pipeline.analytics.queries.bucket_counts`). For the bucket under test, each cell's
count ``k`` is compared with its baseline: the same cell's total ``n`` over ``B`` earlier buckets.
Hourly buckets use a **seasonal** baseline by default — the same hour of day on the previous
``baseline_buckets`` days — so that the morning peak is not a "spike"; daily buckets use the
previous ``baseline_buckets`` days.

The test is the one-sided two-sample Poisson E-test of Krishnamoorthy & Thomson (2004), as
implemented by :func:`scipy.stats.poisson_means_test` (H1: rate now > baseline rate, exposures
1 and B). p-values of all cells of the bucket are adjusted with Benjamini-Hochberg
(:func:`scipy.stats.false_discovery_control`). A cell raises a warning when its adjusted
p-value is below ``alpha`` **and** ``k >= min_count`` **and** ``k >= min_ratio x`` the baseline
mean (both guard against statistically certain but operationally tiny surges). Cells that
spike for the same driver and bucket form one warning; its headline cell is the one of the
first dimension in ``dimensions`` (area before queue before team: the most specific place).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

Dimension = Literal["area", "queue", "team"]


class SpikeConfig(BaseModel):
    """Thresholds of the spike detector (all configurable; ``qa analytics detect --help``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    granularity: Literal["hour", "day"] = "hour"
    #: number of earlier buckets in the baseline (hour + seasonal: days of the same hour)
    baseline_buckets: int = Field(7, ge=1, le=366)
    #: hour buckets: baseline = same hour of day on earlier days (True) or the previous hours (False)
    seasonal: bool = True
    #: Benjamini-Hochberg adjusted p-value threshold
    alpha: float = Field(0.001, gt=0, lt=1)
    #: at least this many calls in the bucket
    min_count: int = Field(10, ge=1)
    #: at least this many times the baseline mean per bucket
    min_ratio: float = Field(3.0, ge=1)
    dimensions: tuple[Dimension, ...] = ("area", "queue", "team")

    def baseline_buckets_of(self, bucket: int) -> list[int]:
        """The bucket numbers (hours or days) of the baseline of ``bucket``."""
        if self.granularity == "hour" and self.seasonal:
            return [bucket - 24 * i for i in range(1, self.baseline_buckets + 1)]
        return [bucket - i for i in range(1, self.baseline_buckets + 1)]


@dataclass(frozen=True, slots=True)
class Cell:
    dimension: str
    value: str
    count: int
    baseline_mean: float
    p_value: float


@dataclass(frozen=True, slots=True)
class Spike:
    """One warning: ``driver`` surging in ``bucket`` (hours or days, local, see :mod:`.tables`)."""

    granularity: str
    bucket: int
    driver: str
    headline: Cell
    cells: tuple[Cell, ...]

    @property
    def key(self) -> str:
        return f"{self.granularity}:{self.bucket}:{self.driver}"


#: counts[(dimension, value, driver)][bucket] -> calls
Counts = Mapping[tuple[str, str, str], Mapping[int, int]]


def detect(counts: Counts, bucket: int, config: SpikeConfig = SpikeConfig()) -> list[Spike]:
    """Warnings for ``bucket`` from per-cell counts (buckets missing from a cell count as 0).

    Returns spikes sorted by driver. Raises nothing; cells without calls in ``bucket`` are skipped.
    """
    baseline = config.baseline_buckets_of(bucket)
    tested: list[tuple[str, str, str, int, float]] = []
    pvalues: list[float] = []
    for (dimension, value, driver), series in counts.items():
        if dimension not in config.dimensions:
            continue
        k = int(series.get(bucket, 0))
        n = int(sum(series.get(b, 0) for b in baseline))
        mean = n / len(baseline)
        tested.append((dimension, value, driver, k, mean))
        if k < config.min_count or k < config.min_ratio * mean:
            # cannot alert whatever its p-value; p = 1 keeps it in the family of m tests, which
            # only makes the Benjamini-Hochberg adjustment of the other cells more conservative
            pvalues.append(1.0)
            continue
        result = stats.poisson_means_test(k, 1, n, len(baseline), alternative="greater")
        pvalues.append(float(result.pvalue))
    if not tested:
        return []
    adjusted = stats.false_discovery_control(np.clip(np.asarray(pvalues), 0.0, 1.0))
    by_driver: dict[str, list[Cell]] = {}
    for (dimension, value, driver, k, mean), p in zip(tested, adjusted):
        if p < config.alpha and k >= config.min_count and k >= config.min_ratio * mean:
            by_driver.setdefault(driver, []).append(Cell(dimension, value, k, round(mean, 3), float(p)))
    spikes = []
    order: dict[str, int] = {d: i for i, d in enumerate(config.dimensions)}
    for driver, cells in sorted(by_driver.items()):
        cells.sort(key=lambda c: (order[c.dimension], c.p_value))
        spikes.append(Spike(config.granularity, bucket, driver, cells[0], tuple(cells)))
    return spikes


def buckets_to_scan(latest: int, lookback: int) -> Sequence[int]:
    """The ``lookback`` most recent complete-or-current buckets ending at ``latest``."""
    return range(latest - lookback + 1, latest + 1)
