"""A real redis-server on a free loopback port, always with a password: plain or with TLS (the ElastiCache stand-in),
or started from the operator's own redis.conf and ACL Secret (the in-cluster Redis)."""

from __future__ import annotations

import secrets
import shutil
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import redis

from . import processes
from .pki import CertificateAuthority


@dataclass
class RedisServer:
    host: str
    port: int
    password: str | None = None
    ca_cert: Path | None = None
    directory: Path | None = None
    username: str | None = None  # who start() pings as; None: the default user
    args: tuple[str, ...] = ()  # after the config file, e.g. --replicaof
    _proc: object = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.ca_cert is not None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, **kwargs) -> redis.Redis:
        if self.tls:
            kwargs.update(ssl=True, ssl_ca_certs=str(self.ca_cert), ssl_cert_reqs="required")
        kwargs.setdefault("username", self.username)
        kwargs.setdefault("password", self.password)
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def feast_connection_string(self) -> str:
        """The `connection_string` Feast's RedisOnlineStoreConfig takes."""
        parts = [self.endpoint]
        if self.tls:
            parts.append("ssl=true")
        if self.password:
            parts.append(f"password={self.password}")
        return ",".join(parts)

    def stop(self) -> None:
        if self._proc is not None:
            processes.terminate([self._proc.pid], grace=5)
            self._proc = None

    def start(self) -> "RedisServer":
        """(Re)start on the same port and data directory, as a restarted pod would."""
        assert self.directory is not None
        conf = self.directory / "redis.conf"
        self._proc = processes.spawn(
            [_redis_binary(), str(conf), *self.args], self.directory / "redis.log", tie_to_parent=True
        )
        processes.wait_until(
            lambda: self.client(socket_timeout=1).ping(),
            timeout=20,
            what="redis-server",
            logs=[self.directory / "redis.log"],
        )
        return self


def _redis_binary() -> str:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise FileNotFoundError("redis-server is missing: `make test` installs Debian's redis-server")
    return binary


def start_redis(directory: Path, *, tls: bool = False, password: str | None = None) -> RedisServer:
    """A redis-server on loopback that, like every store the operator makes, requires a password
    (a generated one unless given)."""
    password = password or secrets.token_urlsafe(18)
    directory.mkdir(parents=True, exist_ok=True)
    port = processes.free_port()
    lines = [
        "bind 127.0.0.1",
        f"dir {directory}",
        "save ''",
        "appendonly no",
        "daemonize no",
        "protected-mode no",
    ]
    ca_cert = None
    if tls:
        ca = CertificateAuthority(directory / "pki", name="redis-test-ca")
        pair = ca.issue("redis", common_name="localhost", hosts=("127.0.0.1", "localhost"))
        ca_cert = ca.cert_path
        lines += [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {pair.cert}",
            f"tls-key-file {pair.key}",
            f"tls-ca-cert-file {ca.cert_path}",
            "tls-auth-clients no",
        ]
    else:
        lines.append(f"port {port}")
    lines.append(f"requirepass {password}")
    (directory / "redis.conf").write_text("\n".join(lines) + "\n")
    server = RedisServer("127.0.0.1", port, password, ca_cert, directory)
    return server.start()


def start_operator_redis(
    directory: Path,
    conf: str,
    mounts: dict[str, dict[str, str]],
    *,
    user: str,
    password: str,
    bind: str = "127.0.0.1",
    replica_of: RedisServer | None = None,
    ca_cert: Path | None = None,
    port: int | None = None,
    args: tuple[str, ...] = (),
) -> RedisServer:
    """redis-server with the operator's redis.conf (`conf`) and the files the pod mounts (`mounts`:
    pod directory -> {file name: text}), moved to a free port and `directory`. `user`/`password`:
    whom start() pings as, as the pod's probes do; `ca_cert`: verifies the server when it serves TLS;
    `port`: where it listens (a free one if None); `args`: what the pod's command line adds."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    places = {}
    for index, (pod_dir, files) in enumerate(mounts.items()):
        place = directory / f"mount-{index}"
        place.mkdir(exist_ok=True)
        for name, text in files.items():
            (place / name).write_text(text)
        places[pod_dir] = str(place)
    port = port or processes.free_port()
    lines = []
    for line in conf.splitlines():
        key, _, value = line.partition(" ")
        if key in ("port", "tls-port") and value != "0":
            line = f"{key} {port}"
        elif key == "bind":
            line = f"bind {bind}"
        elif key == "dir":
            line = f"dir {directory / 'data'}"
        for pod_dir, place in places.items():
            line = line.replace(pod_dir, place)
        lines.append(line)
    (directory / "redis.conf").write_text("\n".join(lines) + "\n")
    args = (*args, *(("--replicaof", replica_of.host, str(replica_of.port)) if replica_of else ()))
    server = RedisServer("127.0.0.1", port, password, ca_cert, directory, username=user, args=args)
    return server.start()


def ssl_context(server: RedisServer) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(server.ca_cert)) if server.tls else None
