"""The gate's checks as plain values: each has a name, the measured value, the threshold it was held to and whether
it passed. Pure functions of arrays and metric dicts, so each is tested on a few literal rows."""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from core.config_gate import DataChecks, ModelChecks
from core.metrics import psi


@dataclass(frozen=True)
class Check:
    check: str
    value: float | None
    threshold: str
    passed: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def reason(self) -> str:
        value = "none" if self.value is None else f"{self.value:.6g}"
        return f"{self.check} = {value}, required {self.threshold}"


def at_least(name: str, value: float | None, floor: float) -> Check:
    """A missing value (e.g. no AUC on a one-class day) fails: a check that cannot be measured does not pass."""
    return Check(name, value, f">= {floor:g}", value is not None and value >= floor)


def at_most(name: str, value: float | None, ceiling: float) -> Check:
    return Check(name, value, f"<= {ceiling:g}", value is not None and value <= ceiling)


def within(name: str, value: float | None, bounds: Sequence[float]) -> Check:
    low, high = bounds
    return Check(name, value, f"in [{low:g}, {high:g}]", value is not None and low <= value <= high)


def noted(name: str, why: str) -> Check:
    """A check that does not apply here (first day, first model); it passes and says why."""
    return Check(name, None, why, True)


@dataclass(frozen=True)
class WarmRows:
    """Which rows of D have a history to join: their `entity` (user or item) had an event in the `days` before D.

    A feature taken from that history is null on every other row, by right: on a day whose rows are nearly all from
    newcomers (MovieLens users rate in one sitting; on 10% of its days over 95% of the rows are theirs) a ceiling over
    all rows fails, though it is there to catch a join gone wrong. On the warm rows a broken join still shows in full.
    """
    entity: str
    days: int
    mask: np.ndarray  # bool, one per row of D

    def __str__(self) -> str:
        return f"rows whose {self.entity} had an event in the {self.days} days before D"


def data_checks(today: pa.Table, reference: pa.Table | None, features: Sequence[str], labels: Sequence[str],
                limits: DataChecks, eventless: Collection[str] = (),
                warm_rows: Mapping[str, WarmRows] | None = None) -> list[Check]:
    """Day D's samples: row floor, label-rate bounds, null-rate ceilings, and PSI drift of numerics against the
    `reference` day's samples (D-1, or the latest earlier day with samples when D-1 is an empty day).

    `eventless`: features over a window of days without a single event (after an empty day of a dump). They are
    null by right, so their null rate is noted, not held to a ceiling that is there to catch a broken join.
    `warm_rows`: per feature taken from a user's or item's history, the rows that have one (WarmRows); its null
    rate is that of those rows."""
    rows = today.num_rows
    checks = [at_least("rows", rows, limits.min_rows)]
    for label in labels:
        rate = float(np.mean(_floats(today.column(label)))) if rows else None
        checks.append(within(f"label_rate:{label}", rate, limits.label_rate))
    for name in features:
        ceiling = limits.null_rate_ceilings.get(name, limits.max_null_rate)
        if name in eventless:
            checks.append(noted(f"null_rate:{name}", "its window has no event: null expected"))
        elif rows and (warm := (warm_rows or {}).get(name)) is not None:
            checks.append(_warm_null_rate(name, today.column(name), warm, ceiling))
        else:
            checks.append(at_most(f"null_rate:{name}", today.column(name).null_count / rows if rows else None,
                                  ceiling))
    if not limits.drift_features:
        return checks + [noted("psi", "no drift features configured")]
    if reference is None or reference.num_rows == 0:
        return checks + [noted("psi", "no samples of D-1 or of an earlier day in the training window: "
                                      "drift not checked")]
    for name in limits.drift_features:
        drift = psi(_floats(reference.column(name)), _floats(today.column(name)), limits.drift_bins)
        checks.append(at_most(f"psi:{name}", drift, limits.max_psi))
    return checks


def model_checks(candidate: Mapping[str, float | None], blessed: Mapping[str, float | None] | None,
                 blessed_version: int | None, prefixes: Sequence[str], limits: ModelChecks) -> list[Check]:
    """Absolute bounds on the candidate's day-D metrics, and no AUC regression against the blessed model scored on
    the same day. `prefixes` picks the outputs checked: "" is ctr (auc, logloss, calibration), "ctcvr_" ESMM's."""
    checks = []
    for prefix in prefixes:
        checks += [at_least(f"{prefix}auc", candidate.get(f"{prefix}auc"), limits.min_auc),
                   at_most(f"{prefix}logloss", candidate.get(f"{prefix}logloss"), limits.max_logloss),
                   within(f"{prefix}calibration", candidate.get(f"{prefix}calibration"), limits.calibration)]
        name = f"{prefix}auc_vs_blessed"
        if blessed is None:
            checks.append(noted(name, "no blessed model yet: absolute checks only"))
            continue
        base = blessed.get(f"{prefix}auc")
        floor = None if base is None else base - limits.max_auc_drop
        checks.append(Check(name, candidate.get(f"{prefix}auc"),
                            f">= blessed v{blessed_version} {_fmt(base)} - {limits.max_auc_drop:g}",
                            floor is not None and candidate.get(f"{prefix}auc") is not None
                            and candidate[f"{prefix}auc"] >= floor))
    return checks


def serving_checks(expected: Mapping[str, np.ndarray], served: Mapping[str, Sequence[float]],
                   edge_scores: Mapping[str, Sequence[float]], project_modules: Sequence[str],
                   tolerance: float) -> list[Check]:
    """The export, loaded in a fresh TF-only process, scores the golden rows as training did and survives the
    edge rows with probabilities in [0, 1]."""
    missing = sorted(set(expected) - set(served))
    if missing:
        return [Check("serving_outputs", None, f"outputs {', '.join(sorted(expected))}", False)]
    error = max(float(np.max(np.abs(np.asarray(served[o]) - expected[o]), initial=0.0)) for o in expected)
    edge = np.concatenate([np.asarray(v, dtype=float) for v in edge_scores.values()])
    valid = bool(np.all(np.isfinite(edge)) and np.all((edge >= 0) & (edge <= 1)))
    return [at_most("serving_parity", error, tolerance),
            Check("serving_edge_rows", float(valid), "missing/unknown values score in [0, 1]", valid),
            Check("serving_tf_only", float(len(project_modules)), "0 project modules loaded", not project_modules)]


def _warm_null_rate(name: str, column: pa.ChunkedArray, warm: WarmRows, ceiling: float) -> Check:
    warm_nulls = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)[warm.mask]
    if not len(warm_nulls):
        return noted(f"null_rate:{name}", f"no row is one of the {warm}: null expected")
    rate = float(warm_nulls.mean())
    return Check(f"null_rate:{name}", rate, f"<= {ceiling:g} on the {len(warm_nulls)} of {len(warm.mask)} {warm}",
                 rate <= ceiling)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"
