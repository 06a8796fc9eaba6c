"""The config's `gate` section: what day D's samples and a candidate model must pass before the export is published
(models/validate_and_export.py, models/checks.py)."""
from __future__ import annotations

from pydantic import model_validator

from core.config_base import Frozen


class DataChecks(Frozen):
    """Day D's samples must look like data a model can be judged on (models/validate_and_export.py)."""

    min_rows: int
    label_rate: list[float]  # [min, max] of each label column's rate
    max_null_rate: float  # of any feature column not in null_rate_ceilings
    null_rate_ceilings: dict[str, float]  # tighter (or looser) ceilings of named features
    drift_bins: int  # PSI over this many quantile bins of the previous day's values
    max_psi: float  # population stability index of a drift feature, D against D-1
    drift_features: list[str]  # the main numeric features watched for drift; empty: no drift check

    @model_validator(mode="after")
    def _bounds(self) -> "DataChecks":
        if len(self.label_rate) != 2 or not 0 <= self.label_rate[0] <= self.label_rate[1] <= 1:
            raise ValueError(f"label_rate must be [min, max] within [0, 1], got {self.label_rate}")
        return self


class ModelChecks(Frozen):
    """A candidate's day-D metrics against absolute bounds and against the blessed model re-scored on D."""

    min_auc: float
    max_logloss: float
    calibration: list[float]  # [min, max] of mean prediction / label rate
    max_auc_drop: float  # non-regression: candidate AUC >= blessed AUC - this, on the same day


class GateConfig(Frozen):
    export_root: str  # <export_root>/<model>/<version>/: the TensorFlow Serving layout
    keep_versions: int  # published versions kept per model (the blessed one is never removed)
    golden_rows: int  # rows of day D scored by the export in a fresh TF-only process
    parity_tolerance: float  # max |export score - training process score|
    data: DataChecks
    model: ModelChecks
