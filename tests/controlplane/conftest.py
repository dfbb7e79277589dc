import pytest

from predictflow_devtools.operator_process import OperatorProcess


@pytest.fixture(scope="session")
def operator(control_plane, tmp_path_factory):
    process = OperatorProcess(control_plane.kubeconfig, tmp_path_factory.mktemp("operator") / "operator.log").start()
    yield process
    process.stop()
