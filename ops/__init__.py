"""Running the pipeline: the raw-data check the DAG waits on, the run summary, a local Spark standalone cluster."""
