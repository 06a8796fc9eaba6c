"""The base of every error a user fixes by changing input or config; entry points print it and exit 1."""


class PipelineError(Exception):
    """Bad or missing input or config, explained in the message (no traceback needed)."""


# models.validate_and_export's exit status for a model the gate rejected (the run worked, the model did not pass);
# 1 stays "the gate could not run". Both fail the DAG's gate task; the range runner tells them apart.
GATE_REJECTED_EXIT = 2
