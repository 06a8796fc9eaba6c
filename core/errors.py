"""The base of every error a user fixes by changing input or config; entry points print it and exit 1."""


class PipelineError(Exception):
    """Bad or missing input or config, explained in the message (no traceback needed)."""
