"""The lab host fixture of the lab's own tests: lab hosts made by the real
task file (tests/lab/tasks/lab_host.yml), removed with their volume
afterwards."""

import pytest
from labtools import create_lab_host, remove_lab_host


@pytest.fixture
def lab_host(tmp_path):
    """create(name, image, restart_policy="no"): run lab_host.yml for one
    host; every host made is removed with its volume afterwards."""
    names = []

    def create(name, image, restart_policy="no"):
        names.append(name)
        return create_lab_host(tmp_path, name, image, restart_policy)

    yield create
    for name in names:
        remove_lab_host(name)
