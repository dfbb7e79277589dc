import secrets

import pytest

from predictflow_devtools.redis_server import start_redis


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """A password-protected redis-server of the test module's own."""
    server = start_redis(tmp_path_factory.mktemp("redis"), password=secrets.token_urlsafe(18))
    yield server
    server.stop()
