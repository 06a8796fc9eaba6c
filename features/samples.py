"""Which columns of the `samples` table are keys, labels and features; models and jobs read this, not names."""
from __future__ import annotations

KEY_COLUMNS = ("dt", "user_id", "item_id")
# Every label column starts with this prefix, so no feature can be mistaken for a label (or vice versa).
LABEL_PREFIX = "label_"
LABELS_BY_MODE = {
    "ratings": ("label_like",),
    "sampled_negatives": ("label_click", "label_conversion"),
    "impressions": ("label_click", "label_conversion"),
}
# Row-level bookkeeping that is neither a feature nor a label.
META_COLUMNS = ("is_sampled_negative",)


def label_columns(mode: str) -> tuple[str, ...]:
    return LABELS_BY_MODE[mode]


def feature_columns(columns: list[str]) -> list[str]:
    """Every sample column that is not the day, a label or bookkeeping (the ids are features too)."""
    return [c for c in columns if c != "dt" and c not in META_COLUMNS and not c.startswith(LABEL_PREFIX)]
