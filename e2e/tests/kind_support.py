"""Driving a real cluster from the kind-tier tests: kubectl, port-forwards, in-cluster pods."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from predictflow_devtools.processes import spawn
from predictflow_devtools.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "predictflow-operator"
OPERATOR_NAMESPACE = "predictflow-system"
RELEASE = "predictflow"


class KubectlError(RuntimeError):
    pass


@dataclass(frozen=True)
class Kubectl:
    """kubectl against the cluster in $KUBECONFIG, optionally bound to one namespace."""

    binary: str
    kubeconfig: str
    namespace: str | None = None

    @classmethod
    def from_env(cls) -> "Kubectl":
        binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
        if not binary:
            raise RuntimeError("kubectl is not on PATH (make e2e puts it there)")
        return cls(binary, os.environ["KUBECONFIG"])

    def in_namespace(self, namespace: str) -> "Kubectl":
        return Kubectl(self.binary, self.kubeconfig, namespace)

    def base_args(self) -> list[str]:
        args = [self.binary, "--kubeconfig", self.kubeconfig]
        if self.namespace:
            args += ["--namespace", self.namespace]
        return args

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self.base_args(), *args], input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run(*args, "-o", "json"))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        out = self.run("get", kind, name, "-o", "json", "--ignore-not-found", check=False)
        return json.loads(out) if out.strip() else None

    def items(self, kind: str, *selectors: str) -> list[dict[str, Any]]:
        return self.json("get", kind, *selectors)["items"]

    def apply(self, *manifests: dict[str, Any], server_side: bool = False) -> None:
        args = ["apply", "-f", "-"] + (["--server-side", "--force-conflicts"] if server_side else [])
        self.run(*args, input=yaml.safe_dump_all(manifests))

    def delete(self, kind: str, name: str, *extra: str) -> None:
        self.run("delete", kind, name, "--ignore-not-found", *extra)

    def patch_merge(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self.run("patch", kind, name, "--type", "merge", "-p", json.dumps(patch))

    def logs(self, pod: str, *extra: str) -> str:
        return self.run("logs", pod, *extra)

    def exec(self, pod: str, *command: str, input: str | None = None, container: str | None = None) -> str:
        args = ["exec", "-i" if input is not None else "", pod]
        if container:
            args += ["-c", container]
        return self.run(*[a for a in args if a], "--", *command, input=input)


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return {}


def pod_ready(pod: dict[str, Any]) -> bool:
    return condition(pod, "Ready").get("status") == "True" and not pod["metadata"].get("deletionTimestamp")


def wait_for_pod_phase(kube: Kubectl, name: str, phases: set[str], timeout: float = 180) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        pod = kube.get("pod", name)
        return pod if pod and pod["status"].get("phase") in phases else None

    return eventually(reached, what=f"pod {name} to reach {sorted(phases)}", timeout=timeout, interval=1)


@contextmanager
def port_forward(kube: Kubectl, target: str, remote_port: int, log_dir: Path) -> Iterator[str]:
    """`kubectl port-forward` to target (svc/name, pod/name); yields the local base URL."""
    log = log_dir / f"port-forward-{re.sub(r'[^a-z0-9]+', '-', target)}-{time.monotonic_ns()}.log"
    process = spawn(
        [*kube.base_args(), "port-forward", target, f":{remote_port}", "--address", "127.0.0.1"],
        log,
        tie_to_parent=True,
    )
    try:
        def forwarding_port() -> int | None:
            if process.poll() is not None:
                raise AssertionError(f"kubectl port-forward exited: {log.read_text()}")
            found = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", log.read_text())
            return int(found.group(1)) if found else None

        port = eventually(forwarding_port, what=f"port-forward to {target}", timeout=60, interval=0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_pod_to_completion(
    kube: Kubectl,
    name: str,
    image: str,
    command: list[str],
    *,
    timeout: float = 180,
    volume_mounts: list[dict[str, Any]] | None = None,
    env: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    **pod_spec: Any,
) -> str:
    """Runs a one-off pod, waits until it succeeds, returns its log, deletes it."""
    kube.delete("pod", name, "--wait=true")
    container: dict[str, Any] = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent", "command": command}
    if volume_mounts:
        container["volumeMounts"] = volume_mounts
    if env:
        container["env"] = env
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": kube.namespace, "labels": labels or {}},
            "spec": {"restartPolicy": "Never", "containers": [container], **pod_spec},
        }
    )
    try:
        pod = wait_for_pod_phase(kube, name, {"Succeeded", "Failed"}, timeout=timeout)
        output = kube.logs(name)
        assert pod["status"]["phase"] == "Succeeded", f"pod {name} failed: {output}"
        return output
    finally:
        kube.delete("pod", name, "--wait=true")


def dump_diagnostics(kube: Kubectl, namespaces: list[str], directory: Path) -> Path:
    """What the cluster looked like: objects, events, and the logs of every pod, per namespace."""
    directory.mkdir(parents=True, exist_ok=True)
    for namespace in namespaces:
        scoped = kube.in_namespace(namespace)
        sections = {
            "objects.txt": ["get", "all,pvc,configmaps,secrets,featurestores", "-o", "wide"],
            "featurestores.yaml": ["get", "featurestores", "-o", "yaml"],
            "events.txt": ["get", "events", "--sort-by=.lastTimestamp"],
        }
        for filename, args in sections.items():
            (directory / f"{namespace}-{filename}").write_text(scoped.run(*args, check=False))
        for pod in scoped.run("get", "pods", "-o", "name", check=False).split():
            name = pod.split("/", 1)[1]
            logs = scoped.run("logs", pod, "--all-containers", "--prefix", "--tail=400", check=False)
            previous = scoped.run("logs", pod, "--all-containers", "--prefix", "--previous", "--tail=200", check=False)
            (directory / f"{namespace}-{name}.log").write_text(logs + ("\n--- previous ---\n" + previous if previous else ""))
    return directory


def helm(kube: Kubectl, *args: str, timeout: float = 600) -> None:
    """helm ($HELM, else on PATH) against the cluster kube points at; fails with helm's message."""
    binary = os.environ.get("HELM") or shutil.which("helm") or "helm"
    result = subprocess.run([binary, "--kubeconfig", kube.kubeconfig, *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")


def terminal_writer(config: Any) -> Callable[[str], None]:
    """Writes a line to the test run's output past output capture, so measurements show, passed or not."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if terminal is None:
            return
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"e2e: {line}")

    return write
