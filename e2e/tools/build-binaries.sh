#!/usr/bin/env bash
# Builds the Kubernetes, etcd, helm and kind binaries the project needs from Go module
# sources (no release downloads), caching each under $PREDICTFLOW_CACHE/bin/<name>-<version>/.
# A binary already in the cache is reused; a partial build never lands in the cache.
#
# Usage: build-binaries.sh COMPONENT...   (components: k8s etcd helm kind)
# Versions come from the environment (the Makefile pins them).
set -euo pipefail

: "${K8S_VERSION:?}" "${ETCD_VERSION:?}" "${HELM_VERSION:?}" "${KIND_VERSION:?}"
CACHE=${PREDICTFLOW_CACHE:-$HOME/.cache/predictflow}
WORK=$CACHE/gomod
export GOFLAGS=${GOFLAGS:--mod=mod} CGO_ENABLED=0
say() { echo "build-binaries: $*" >&2; }

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging
# paths, which Go ignores in a dependency; a scratch module pins each to v0.<minor>.<patch>.
build_k8s() {
  local out=$CACHE/bin/k8s-$K8S_VERSION
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kubeadm)
  [[ -x $out/kubeadm ]] && { say "k8s $K8S_VERSION cached"; return; }
  [[ $K8S_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { say "K8S_VERSION must be v1.X.Y"; exit 1; }
  local minor=${BASH_REMATCH[1]} staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
  local dir=$WORK/k8s-$K8S_VERSION
  mkdir -p "$dir" && cd "$dir"
  [[ -f go.mod ]] || go mod init predictflow.local/k8s-build >/dev/null 2>&1
  local info gomod commit
  info=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' <<<"$info" | head -n1)
  commit=$(sed -n 's/^[[:space:]]*"Hash": "\(.*\)",*$/\1/p' <<<"$info" | head -n1)
  local modules
  mapfile -t modules < <(sed -E -n 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[A-Za-z0-9._/-]+)[[:space:]]+=>[[:space:]]+\./staging/.*$#\2#p' "$gomod" | sort -u)
  (( ${#modules[@]} >= 20 )) || { say "found only ${#modules[@]} staging modules in $gomod"; exit 1; }
  local edits=()
  for m in "${modules[@]}"; do edits+=("-replace=$m=$m@$staging"); done
  go mod edit "${edits[@]}" -go="$(awk '$1 == "go" {print $2; exit}' "$gomod")"
  local pkgs=()
  for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c@$K8S_VERSION"); done
  go get -tool "${pkgs[@]}"
  local ldflags="-s -w" vp
  for vp in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $vp.gitVersion=$K8S_VERSION -X $vp.gitMajor=1 -X $vp.gitMinor=$minor"
    ldflags+=" -X $vp.gitTreeState=clean -X $vp.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    [[ -n $commit ]] && ldflags+=" -X $vp.gitCommit=$commit"
  done
  say "compiling ${cmds[*]} $K8S_VERSION (cold: tens of minutes on 2 cores)"
  local tmp=$out.partial
  rm -rf "$tmp" && mkdir -p "$tmp"
  go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$ldflags" -o "$tmp/" \
    $(printf 'k8s.io/kubernetes/cmd/%s ' "${cmds[@]}")
  rm -rf "$out" && mv "$tmp" "$out"
}

# etcd's server module carries relative replaces too; as a dependency they are ignored.
build_etcd() {
  local out=$CACHE/bin/etcd-$ETCD_VERSION
  [[ -x $out/etcd ]] && { say "etcd $ETCD_VERSION cached"; return; }
  local dir=$WORK/etcd-$ETCD_VERSION
  mkdir -p "$dir" && cd "$dir"
  [[ -f go.mod ]] || go mod init predictflow.local/etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  say "compiling etcd $ETCD_VERSION"
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  go build -trimpath -ldflags="-s -w" -o "$out.partial/etcd" go.etcd.io/etcd/server/v3
  rm -rf "$out" && mv "$out.partial" "$out"
}

build_helm() {
  # Helm's default Kubernetes version for `helm template`/`lint` is baked in at build time;
  # without it, it assumes 1.20 and refuses charts that require a newer cluster.
  [[ $K8S_VERSION =~ ^v1\.([0-9]+)\. ]] || { say "K8S_VERSION must be v1.X.Y"; exit 1; }
  local kube_minor=${BASH_REMATCH[1]}
  local out=$CACHE/bin/helm-$HELM_VERSION-k8s1.$kube_minor
  [[ -x $out/helm ]] && { say "helm $HELM_VERSION cached"; return; }
  local dir=$WORK/helm-$HELM_VERSION
  mkdir -p "$dir" && cd "$dir"
  [[ -f go.mod ]] || go mod init predictflow.local/helm-build >/dev/null 2>&1
  go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  say "compiling helm $HELM_VERSION"
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  local kube="" pkg
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    kube+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
  done
  go build -trimpath -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION$kube" \
    -o "$out.partial/helm" helm.sh/helm/v3/cmd/helm
  rm -rf "$out" && mv "$out.partial" "$out"
}

build_kind() {
  local out=$CACHE/bin/kind-$KIND_VERSION
  [[ -x $out/kind ]] && { say "kind $KIND_VERSION cached"; return; }
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  GOBIN=$out.partial go install "sigs.k8s.io/kind@$KIND_VERSION"
  rm -rf "$out" && mv "$out.partial" "$out"
}

for component in "$@"; do
  case $component in
    k8s) build_k8s ;; etcd) build_etcd ;; helm) build_helm ;; kind) build_kind ;;
    *) say "unknown component $component"; exit 2 ;;
  esac
done
