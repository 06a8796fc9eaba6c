import pytest

from core.cli import one_line_errors
from core.errors import PipelineError


def test_an_entry_points_pipeline_error_is_one_line_and_exit_1_and_other_errors_still_raise(capsys):
    @one_line_errors()
    def main(error: Exception | None = None) -> int:
        if error:
            raise error
        return 0

    assert main() == 0
    assert main(PipelineError("no samples of 1998-04-22")) == 1
    assert capsys.readouterr().err == "error: no samples of 1998-04-22\n"
    with pytest.raises(KeyError):
        main(KeyError("x"))
    assert one_line_errors(KeyError)(main)(KeyError("x")) == 1
