import pytest
from pacs_helpers import Orthanc, analyse, phantom_exam


@pytest.fixture(scope="session")
def exam(tmp_path_factory):
    return analyse(phantom_exam(tmp_path_factory.mktemp("phantom")))


@pytest.fixture
def orthanc(tmp_path):
    """Orthanc accepting C-STORE only from calling AE MAMMOEDGE (called AE ORTHANC); stopped afterwards."""
    (tmp_path / "orthanc").mkdir()
    server = Orthanc(tmp_path / "orthanc")
    yield server
    server.stop()
