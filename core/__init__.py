"""Runtime every layer shares: typed config, the Spark session, lake paths and Delta writes."""
