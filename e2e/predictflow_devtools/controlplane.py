"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

No scheduler and no kubelet run, so pods stay Pending; everything the API server and the
controllers do (validation, server-side apply, garbage collection, Deployments -> ReplicaSets,
CronJobs -> Jobs) is real. `make cluster-up` and the `controlplane` test fixture both use it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import processes
from .pki import CertificateAuthority, write_rsa_keypair

_CONTROLLERS = (
    "garbage-collector-controller,namespace-controller,deployment-controller,replicaset-controller,"
    "statefulset-controller,job-controller,cronjob-controller,ttl-after-finished-controller,"
    "disruption-controller,horizontal-pod-autoscaler-controller,serviceaccount-controller,serviceaccount-token-controller,"
    "root-ca-certificate-publisher-controller,endpointslice-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller"
)


@dataclass
class ControlPlaneInfo:
    kubeconfig: Path
    server: str
    token: str
    ca_cert: Path


class ControlPlane:
    def __init__(self, bin_dir: Path, state_dir: Path, *, tie_to_parent: bool = True) -> None:
        self.bin_dir = bin_dir
        self.state = state_dir
        self.tie_to_parent = tie_to_parent
        self.logs = state_dir / "logs"
        self.pids_file = state_dir / "pids"
        self._pids: list[int] = []

    def _binary(self, name: str) -> str:
        path = self.bin_dir / name
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{path} is missing: run `make tools` or set KUBEBUILDER_ASSETS")
        return str(path)

    def _spawn(self, name: str, args: list[str]) -> None:
        proc = processes.spawn(args, self.logs / f"{name}.log", tie_to_parent=self.tie_to_parent)
        self._pids.append(proc.pid)
        with self.pids_file.open("a") as out:
            out.write(f"{proc.pid}\n")

    def start(self, timeout: float = 90.0) -> ControlPlaneInfo:
        if self.state.exists():
            shutil.rmtree(self.state)
        pki_dir = self.state / "pki"
        self.logs.mkdir(parents=True)
        ca = CertificateAuthority(pki_dir)
        serving = ca.issue(
            "apiserver",
            common_name="kube-apiserver",
            hosts=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc", "10.0.0.1"),
        )
        write_rsa_keypair(pki_dir / "sa.key", pki_dir / "sa.pub")
        token = secrets.token_hex(24)
        (pki_dir / "tokens.csv").write_text(f'{token},admin,admin-uid,"system:masters"\n')

        try:
            etcd_url = self._start_etcd(timeout)
            port = processes.free_port()
            server = f"https://127.0.0.1:{port}"
            self._spawn(
                "kube-apiserver",
                [
                    self._binary("kube-apiserver"),
                    f"--etcd-servers={etcd_url}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    # loopback has no default route: advertise loopback, which needs reconciler none
                    "--advertise-address=127.0.0.1",
                    "--endpoint-reconciler-type=none",
                    f"--tls-cert-file={serving.cert}",
                    f"--tls-private-key-file={serving.key}",
                    f"--client-ca-file={ca.cert_path}",
                    f"--token-auth-file={pki_dir / 'tokens.csv'}",
                    "--authorization-mode=RBAC",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={pki_dir / 'sa.pub'}",
                    f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
                    "--service-cluster-ip-range=10.0.0.0/16",  # room for the benchmark's hundreds of Services
                    "--allow-privileged=true",
                    f"--cert-dir={pki_dir}",
                ],
            )
            context = ssl.create_default_context(cafile=str(ca.cert_path))

            def ready() -> bool:
                request = urllib.request.Request(
                    f"{server}/readyz", headers={"Authorization": f"Bearer {token}"}
                )
                with urllib.request.urlopen(request, context=context, timeout=2) as response:
                    return response.read() == b"ok"

            processes.wait_until(
                ready, timeout=timeout, what="kube-apiserver", logs=[self.logs / "kube-apiserver.log"]
            )
            info = ControlPlaneInfo(self.state / "kubeconfig", server, token, ca.cert_path)
            self._write_kubeconfig(info)
            self._spawn(
                "kube-controller-manager",
                [
                    self._binary("kube-controller-manager"),
                    f"--kubeconfig={info.kubeconfig}",
                    "--leader-elect=false",
                    "--secure-port=0",
                    "--use-service-account-credentials=false",
                    f"--controllers={_CONTROLLERS}",
                    f"--service-account-private-key-file={pki_dir / 'sa.key'}",
                    f"--root-ca-file={ca.cert_path}",
                    "--concurrent-gc-syncs=5",
                ],
            )
            return info
        except BaseException:
            self.stop()
            raise

    def _start_etcd(self, timeout: float) -> str:
        client, peer = processes.free_port(), processes.free_port()
        url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                self._binary("etcd"),
                "--name=predictflow",
                f"--data-dir={self.state / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=predictflow=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return json.load(response).get("health") == "true"

        processes.wait_until(healthy, timeout=timeout, what="etcd", logs=[self.logs / "etcd.log"])
        return url

    def _write_kubeconfig(self, info: ControlPlaneInfo) -> None:
        import yaml

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "predictflow", "cluster": {"server": info.server, "certificate-authority": str(info.ca_cert)}}
            ],
            "users": [{"name": "admin", "user": {"token": info.token}}],
            "contexts": [{"name": "predictflow", "context": {"cluster": "predictflow", "user": "admin"}}],
            "current-context": "predictflow",
        }
        info.kubeconfig.write_text(yaml.safe_dump(config))
        info.kubeconfig.chmod(0o600)

    def stop(self) -> None:
        pids = list(self._pids)
        if not pids and self.pids_file.exists():
            pids = [int(line) for line in self.pids_file.read_text().split()]
        # controller-manager and apiserver first, etcd last
        processes.terminate(list(reversed(pids)))
        self._pids.clear()
        if self.pids_file.exists():
            self.pids_file.unlink()


def apply_manifests(kubeconfig: Path, kubectl: Path, paths: list[Path]) -> None:
    subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "apply", "--server-side", "--force-conflicts"]
        + [f"--filename={p}" for p in paths],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if any("kind: CustomResourceDefinition" in p.read_text() for p in paths):
        # Served only once Established: a request right after the apply can meet a 404. Polled, not
        # `kubectl wait`, which fails at once on a CRD whose status has no conditions yet.
        processes.wait_until(lambda: _all_established(kubeconfig, kubectl), timeout=60, what="the CustomResourceDefinitions (Established)")


def _all_established(kubeconfig: Path, kubectl: Path) -> bool:
    listed = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "get", "customresourcedefinitions", "--output=json"], capture_output=True, text=True, check=True
    )
    crds = json.loads(listed.stdout)["items"]
    return bool(crds) and all(
        any(c.get("type") == "Established" and c.get("status") == "True" for c in (crd.get("status") or {}).get("conditions") or []) for crd in crds
    )


def main(argv: list[str]) -> int:
    """`python -m predictflow_devtools.controlplane up|down BIN_DIR STATE_DIR [CRD_DIR]`."""
    command, bin_dir, state_dir = argv[0], Path(argv[1]), Path(argv[2])
    plane = ControlPlane(bin_dir, state_dir, tie_to_parent=False)
    if command == "down":
        plane.stop()
        return 0
    plane.stop()  # a previous cluster-up
    info = plane.start()
    if len(argv) > 3 and any(Path(argv[3]).glob("*.yaml")):
        apply_manifests(info.kubeconfig, bin_dir / "kubectl", sorted(Path(argv[3]).glob("*.yaml")))
    print(f"export KUBECONFIG={info.kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
