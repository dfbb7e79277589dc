"""What a client pod needs to reach one online store, independent of where the store runs."""

from __future__ import annotations

from dataclasses import dataclass

REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
CA_MOUNT_DIR = "/etc/predictflow/tls"


@dataclass(frozen=True)
class SecretKey:
    name: str
    key: str


@dataclass(frozen=True)
class StoreTarget:
    """One online store as seen by Feast clients (materialization jobs and serving pods)."""

    type: str  # redis | elasticache
    endpoint: str  # host:port
    password: SecretKey
    tls: bool = False
    ca: SecretKey | None = None  # a PEM bundle to verify TLS; None: the system trust store

    def connection_string(self) -> str:
        """Feast's connection string; the password stays a ${VAR} that Feast expands in the pod."""
        parts = [self.endpoint]
        if self.tls:
            parts.append("ssl=true")
            if self.ca is not None:
                parts.append(f"ssl_ca_certs={CA_MOUNT_DIR}/ca.crt")
        parts.append(f"password=${{{REDIS_PASSWORD_ENV}}}")
        return ",".join(parts)
