"""The lake's tables by name, in one place: the Spark jobs, the TensorFlow processes (which do not import the Spark
jobs), ops and the benchmarks all reach a table through `cfg.table_path(<one of these>)`. No imports, so any process
can use it."""

LAKE_DATASET_TABLE = "lake_dataset"  # one row: the dataset the lake holds (core.lake.claim_lake)
EVENTS_TABLE = "events"
EVENTS_QUARANTINE_TABLE = "events_quarantine"
INGEST_LOG_TABLE = "ingest_log"  # one row per ingested day: read, written, quarantined (read = 0: an empty day)
ATTRIBUTE_TABLES = {"users": "user_attributes", "items": "item_attributes"}  # attribute kind -> its daily snapshots
ATTRIBUTES_QUARANTINE_TABLE = "attributes_quarantine"

USER_DAILY_TABLE = "user_daily"
ITEM_DAILY_TABLE = "item_daily"
USER_CATEGORY_DAILY_TABLE = "user_category_daily"
USER_ITEM_DAILY_TABLE = "user_item_daily"
USER_PROFILE_TABLE = "user_profile"
ITEM_PROFILE_TABLE = "item_profile"
SAMPLES_TABLE = "samples"

ALS_IDS_TABLE = "als_ids"
RECALL_CANDIDATES_TABLE = "recall_candidates"
RECALL_METRICS_TABLE = "recall_metrics"
TWO_TOWER_ITEM_VECTORS_TABLE = "two_tower_item_vectors"  # as_of D: the item tower's vector of each item
RECALL_MERGE_WEIGHTS_TABLE = "recall_merge_weights"  # as_of D: the weight of each source in the merge
GBDT_LEAVES_TABLE = "gbdt_leaves"
GBDT_METRICS_TABLE = "gbdt_metrics"
RANKER_METRICS_TABLE = "ranker_metrics"
MODEL_REGISTRY_TABLE = "model_registry"
