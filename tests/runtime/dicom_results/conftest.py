import pytest
from pacs_helpers import analyse, phantom_exam


@pytest.fixture(scope="session")
def exam(tmp_path_factory):
    """A phantom exam with clusters in both views of one breast, analysed by the real pipeline."""
    return analyse(phantom_exam(tmp_path_factory.mktemp("phantom")))
