import pytest

from predictflow_devtools.operator_process import OperatorProcess
from predictflow_devtools.processes import free_port
from predictflow_devtools.pytest_plugin import AWS_TEST_ENV

CLUSTER_IDENTITY = "controlplane-tier"  # the session operator's: names its cluster in ElastiCache ids and tags


@pytest.fixture(scope="session")
def operator(control_plane, moto_server, tmp_path_factory):
    """The operator as a process, talking to the loopback API server and to a moto server for AWS,
    serving its metrics on `process.metrics_target`."""
    metrics_port = free_port()
    process = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path_factory.mktemp("operator") / "operator.log",
        f"--metrics=http://127.0.0.1:{metrics_port}/metrics",
        AWS_ENDPOINT_URL=moto_server,
        PREDICTFLOW_ELASTICACHE_POLL_SECONDS="1",
        PREDICTFLOW_STORE_READ_SECONDS="1",  # serving stores are read every second (the chart: 60 s)
        PREDICTFLOW_CLUSTER_IDENTITY=CLUSTER_IDENTITY,
        **AWS_TEST_ENV,
    ).start()
    process.metrics_target = f"127.0.0.1:{metrics_port}"
    yield process
    process.stop()


@pytest.fixture
def cluster_identity():
    return CLUSTER_IDENTITY


@pytest.fixture
def elasticache(moto_server):
    import boto3

    return boto3.client("elasticache", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def own_plane(tmp_path_factory):
    """A control plane of this module's own: the session's operator must not act on its FeatureStores."""
    from predictflow_devtools.controlplane import ControlPlane, apply_manifests
    from predictflow_devtools.pytest_plugin import REPO_ROOT, binaries_dir, kubectl_binary

    control_plane = ControlPlane(binaries_dir(), tmp_path_factory.mktemp("own-plane"))
    info = control_plane.start()
    try:
        apply_manifests(info.kubeconfig, kubectl_binary(), sorted((REPO_ROOT / "crds").glob("*.yaml")))
        yield info
    finally:
        control_plane.stop()


@pytest.fixture
def own_kube(own_plane):
    from lightkube import Client, KubeConfig

    client = Client(config=KubeConfig.from_file(str(own_plane.kubeconfig)), field_manager="predictflow-tests")
    yield client
    client.close()
