"""Canonical table schemas every dataset is mapped onto, and the quarantine reasons."""
import pyarrow as pa
from pyspark.sql.types import DateType, DoubleType, StringType, StructField, StructType, TimestampType

# One row per distinct event. `event_time` is an instant (UTC); `dt` is its local day in the dataset's
# time zone. Events with equal event_time are ordered by event_id, so every ordering is deterministic.
EVENTS = StructType(
    [
        StructField("event_id", StringType(), False),
        StructField("user_id", StringType(), False),
        StructField("item_id", StringType(), False),
        StructField("event_type", StringType(), False),
        StructField("event_time", TimestampType(), False),
        StructField("value", DoubleType(), True),
        StructField("dt", DateType(), False),
    ]
)

# Rows that could not become events, kept whole with the first reason that rejected them.
EVENTS_QUARANTINE = StructType(
    [
        StructField("reason", StringType(), False),
        StructField("raw", StringType(), False),
        StructField("dt", DateType(), False),
    ]
)

# One row per day that ingest_events finished, with its counts. For an empty day of a dump (read = 0) it is the only
# trace that the day was ingested, so a backfill can tell that day done from a day never ingested. Written through
# deltalake (core.delta_arrow.replace_rows), hence an Arrow schema.
INGEST_LOG = pa.schema([("read", pa.int64(), False), ("written", pa.int64(), False),
                        ("quarantined", pa.int64(), False), ("dt", pa.date32(), False)])

# Reasons in the order they are checked; a row gets the first that applies.
QUARANTINE_REASONS = (
    "malformed",  # wrong number of fields
    "null_user_id",
    "null_item_id",
    "unknown_event_type",
    "bad_event_time",  # not an integer epoch
    "bad_value",  # missing, not a number, or outside dataset.value_range
    "out_of_window",  # local day is not the day being ingested (or outside the dataset window)
    "duplicate",  # same user, item, type, time and value as an earlier row
)
