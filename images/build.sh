#!/usr/bin/env bash
# Builds the project's images and tags them predictflow/<name>:<version of pyproject.toml>.
#
# Usage: images/build.sh [IMAGE...]      images: redis operator runtime serving fraud-example
#                                        (default: all); fraud-example is the example of a user's own
#                                        serving image, built from examples/fraud (its Dockerfile there)
#
# Environment:
#   PREDICTFLOW_IMAGE_BASE  auto (default): the public bases when present or pullable, else local
#                           public: python:3.11-slim and redis:7-alpine
#                           local: Debian bases made here by debootstrap + docker import
#   PYTHON_BASE_IMAGE, REDIS_BASE_IMAGE   the public bases (defaults above)
#   DEBIAN_MIRROR           the mirror for the local bases (default http://deb.debian.org/debian)
#
# Python packages are installed from wheels built on the host with the project's virtualenv
# (its pinned versions are the constraints), so nothing inside a build touches the network.
# Everything is cached under $PREDICTFLOW_CACHE/images, keyed by its inputs: wheels by the
# requirements and constraints, the project wheel by its sources, each image by all of its
# inputs (recorded as a label), so an unchanged image is not rebuilt at all.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/images
cache=${PREDICTFLOW_CACHE:-$HOME/.cache/predictflow}/images
label=io.predictflow.inputs
all_images=(redis operator runtime serving fraud-example)
fraud_example=$root/examples/fraud
say() { echo "images: $*" >&2; }
hash_of() { sha256sum | cut -c1-16; }
# The project's images keep their Dockerfiles here; the example keeps its own beside its code.
dockerfile_of() {
  case $1 in
    fraud-example) echo "$fraud_example/Dockerfile" ;;
    *) echo "$here/$1/Dockerfile" ;;
  esac
}

images=("$@")
(( ${#images[@]} )) || images=("${all_images[@]}")
for image in "${images[@]}"; do
  [[ -f $(dockerfile_of "$image") ]] || { say "unknown image $image (${all_images[*]})"; exit 2; }
done

"$root/e2e/tools/ensure-docker.sh"
venv=$("$root/e2e/tools/ensure-venv.sh")
version=$("$venv/bin/python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$root/pyproject.toml")
mkdir -p "$cache/logs"
# One build at a time per cache: the contexts and the wheel folders are shared.
exec 9>"$cache/build.lock"
flock 9

# base_image python|redis: the public base, or a local Debian base standing in for it.
base_image() {
  local flavour=$1 public mode=${PREDICTFLOW_IMAGE_BASE:-auto}
  case $flavour in
    python) public=${PYTHON_BASE_IMAGE:-python:3.11-slim} ;;
    redis) public=${REDIS_BASE_IMAGE:-redis:7-alpine} ;;
  esac
  case $mode in
    public) echo "$public" ;;
    local) "$here/local-base.sh" "$flavour" ;;
    auto)
      if docker image inspect "$public" >/dev/null 2>&1 || timeout 120 docker pull -q "$public" >/dev/null 2>&1; then
        echo "$public"
      else
        say "$public is not available (no registry reachable): using a local Debian base"
        "$here/local-base.sh" "$flavour"
      fi ;;
    *) say "PREDICTFLOW_IMAGE_BASE must be auto, public or local, not $mode"; exit 2 ;;
  esac
}

# The versions the tests run with pin every wheel of every image.
constraints=$cache/constraints.txt
"$venv/bin/pip" freeze --all >"$constraints"

# wheelhouse IMAGE BASE -> a folder with the image's dependency wheels and their requirements.txt.
# The host resolves with its own interpreter, whose environment markers can differ from the
# base's (bookworm's python3 is 3.11.2, so redis needs async-timeout there); pip in the base
# image, without network, then checks the set, and what it finds missing is added from the host.
wheelhouse() {
  local image=$1 base=$2 requirements key dir shared
  requirements=$("$venv/bin/python" "$here/requirements.py" "$image" "$root/pyproject.toml")
  key=$( { echo "$requirements"; cat "$constraints"; docker image inspect --format '{{.Id}}' "$base"; } | hash_of)
  dir=$cache/wheels/$image-$key
  # Images with the same requirements on the same base share one set of wheels.
  shared=$(find "$cache/wheels" -mindepth 2 -maxdepth 2 -path "*-$key/requirements.txt" -print -quit 2>/dev/null || true)
  if [[ ! -f $dir/requirements.txt && -n $shared ]]; then
    rm -rf "$dir" && cp -al "${shared%/requirements.txt}" "$dir"
  fi
  if [[ ! -f $dir/requirements.txt ]]; then
    say "building the wheels of $image"
    rm -rf "$dir.partial"
    "$venv/bin/pip" wheel --quiet --wheel-dir "$dir.partial" --constraint "$constraints" $requirements >&2
    echo "$requirements" >"$dir.partial/requirements.txt"
    complete_for_base "$dir.partial" "$base"
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
  echo "$dir"
}

complete_for_base() {
  local dir=$1 base=$2 attempt output missing
  for attempt in 1 2 3 4 5 6 7 8; do
    if output=$(docker run --rm --network none --volume "$dir:/wheels:ro" "$base" sh -c \
        'python3 -m venv /tmp/venv && /tmp/venv/bin/pip install --dry-run --quiet --no-index --find-links=/wheels --requirement=/wheels/requirements.txt' 2>&1); then
      return 0
    fi
    missing=$(sed -n 's/.*No matching distribution found for \([^;]*\).*/\1/p' <<<"$output" | head -n1)
    if [[ -z $missing ]]; then
      echo "$output" >&2
      say "the wheels do not install on $base"
      exit 1
    fi
    say "adding $missing, which $base needs"
    "$venv/bin/pip" wheel --quiet --wheel-dir "$dir" --constraint "$constraints" "$missing" >&2
  done
  say "still missing wheels for $base after $attempt rounds"
  exit 1
}

# The project's own wheel (operator, serving and runtime packages), keyed by its sources.
project_sources=(pyproject.toml README.md contract/predictflow_contract operator/predictflow_operator serving/predictflow_serving feature_repo/predictflow_runtime)
project_wheel() {
  local key dir stage
  key=$( { cat "$here/project_wheel.py"; cd "$root" && find "${project_sources[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
         | sort -z | xargs -0 sha256sum; } | hash_of)
  dir=$cache/project/$key
  if ! compgen -G "$dir/*.whl" >/dev/null; then
    say "building the predictflow wheel"
    stage=$(mktemp -d "$cache/project-stage.XXXXXX")
    rm -rf "$dir.partial"
    "$venv/bin/python" "$here/project_wheel.py" "$root" "$stage" "$dir.partial" "${project_sources[@]}" || { rm -rf "$stage"; exit 1; }
    rm -rf "$stage" "$dir" && mv "$dir.partial" "$dir"
  fi
  echo "$dir"
}

# wheels_beyond_runtime IMAGE BASE: the image's wheels that the runtime image does not have already
# (with the image's requirements.txt), for images that install on the runtime's dependencies.
wheels_beyond_runtime() {
  local image=$1 base=$2 wheels runtime_wheels extra wheel
  wheels=$(wheelhouse "$image" "$base")
  runtime_wheels=$(wheelhouse runtime "$base")
  extra=$cache/wheels/$image-extra
  rm -rf "$extra" && mkdir -p "$extra"
  for wheel in "$wheels"/*; do
    [[ -e $runtime_wheels/${wheel##*/} && ${wheel##*/} != requirements.txt ]] || ln "$wheel" "$extra/"
  done
  echo "$extra"
}

# The predictflow-serving library wheel a user's serving image installs (cached by its sources).
library_wheel() {
  local wheel
  wheel=$("$venv/bin/python" "$here/library_wheel.py") || { say "building the predictflow-serving wheel failed"; exit 1; }
  [[ -f $wheel ]] || { say "images/library_wheel.py printed no wheel ($wheel)"; exit 1; }
  echo "$wheel"
}

# context IMAGE [WHEELS [PROJECT [FEATURE_REPO]]]: assemble the image's build context.
context() {
  local dir=$cache/context/$1
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$(dockerfile_of "$1")" "$dir/Dockerfile"
  [[ -z ${2:-} ]] || cp -al "$2" "$dir/wheels"
  [[ -z ${3:-} ]] || cp -al "$3" "$dir/project"
  [[ -z ${4:-} ]] || { mkdir "$dir/feature_repo" && cp "$root"/feature_repo/churn/*.py "$dir/feature_repo/"; }
  echo "$dir"
}

# build IMAGE CONTEXT ARG=VALUE...: build with these build arguments unless the image exists with
# the same inputs (the context, the arguments and the images they name).
build() {
  local image=$1 dir=$2 tag=predictflow/$1:$version key log arg options=()
  shift 2
  for arg in "$@"; do options+=(--build-arg "$arg"); done
  key=$( { for arg in "$@"; do echo "$arg"; docker image inspect --format '{{.Id}}' "${arg#*=}"; done
           (cd "$dir" && find . -path ./wheels -prune -o -type f -print0 | sort -z | xargs -0 sha256sum
            [[ ! -d wheels ]] || find wheels -type f -printf '%P %s\n' | sort); } | hash_of)
  if [[ $(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$tag" 2>/dev/null) == "$key" ]]; then
    say "$tag is up to date"
    rebuilt=false
    return
  fi
  say "building $tag"
  log=$cache/logs/$image.log
  if ! docker build "${options[@]}" --label "$label=$key" --tag "$tag" "$dir" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "building $tag failed (log: $log)"
    exit 1
  fi
  rebuilt=true
}

# The runtime's dependencies stage, tagged for the serving image to build on. Its layers are the
# runtime build's own, so this is a cache hit; no label, so its image ID stays as long as they do.
tag_runtime_dependencies() {
  local dir=$1 base=$2
  docker build --quiet --target dependencies --build-arg "BASE_IMAGE=$base" \
    --tag "predictflow/runtime-dependencies:$version" "$dir" >"$cache/logs/runtime-dependencies.log" 2>&1 \
    || { tail -n 40 "$cache/logs/runtime-dependencies.log" >&2; exit 1; }
}

# serving and the example are built on the runtime's dependencies, so asking for them builds runtime first.
[[ " ${images[*]} " =~ \ (serving|fraud-example)\  && " ${images[*]} " != *" runtime "* ]] && images+=(runtime)
ordered=()
for image in "${all_images[@]}"; do [[ " ${images[*]} " == *" $image "* ]] && ordered+=("$image"); done

# The bases the images need, bootstrapped in parallel when they have to be made here.
flavours=()
[[ " ${ordered[*]} " == *" redis "* ]] && flavours+=(redis)
[[ " ${ordered[*]} " =~ \ (operator|runtime|serving|fraud-example)\  ]] && flavours+=(python)
pids=()
for flavour in "${flavours[@]}"; do
  base_image "$flavour" >"$cache/base-$flavour.ref" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
declare -A base
for flavour in "${flavours[@]}"; do base[$flavour]=$(<"$cache/base-$flavour.ref"); done

for image in "${ordered[@]}"; do
  case $image in
    redis)
      # The exporter sidecar's binary: Debian's prometheus-redis-exporter, from the host's package.
      "$root/e2e/tools/ensure-apt.sh" prometheus-redis-exporter
      dir=$(context redis)
      cp /usr/bin/prometheus-redis-exporter "$dir/redis_exporter"
      build redis "$dir" "BASE_IMAGE=${base[redis]}" ;;
    operator)
      project=$(project_wheel)
      wheels=$(wheelhouse operator "${base[python]}")
      dir=$(context operator "$wheels" "$project")
      build operator "$dir" "BASE_IMAGE=${base[python]}" ;;
    runtime)
      project=$(project_wheel)
      wheels=$(wheelhouse runtime "${base[python]}")
      dir=$(context runtime "$wheels" "$project" feature_repo)
      build runtime "$dir" "BASE_IMAGE=${base[python]}"
      if $rebuilt || ! docker image inspect "predictflow/runtime-dependencies:$version" >/dev/null 2>&1; then
        tag_runtime_dependencies "$dir" "${base[python]}"
      fi ;;
    serving)
      # Only the wheels the runtime image does not have already go into the context.
      extra=$(wheels_beyond_runtime serving "${base[python]}")
      dir=$(context serving "$extra")
      build serving "$dir" "RUNTIME_IMAGE=predictflow/runtime:$version" \
        "DEPENDENCIES_IMAGE=predictflow/runtime-dependencies:$version" ;;
    fraud-example)
      # Built as a user builds their own serving image: the platform's dependencies, BentoML,
      # the predictflow-serving wheel and the example's files (its generated data left out).
      extra=$(wheels_beyond_runtime fraud-example "${base[python]}")
      library=$(library_wheel)
      dir=$(context fraud-example "$extra")
      mkdir "$dir/library" && cp "$library" "$dir/library/"
      tar -C "$fraud_example" --exclude=__pycache__ --exclude='*.pyc' --exclude=feature_repo/data -cf - fraud_example feature_repo \
        | tar -C "$dir" -xf -
      build fraud-example "$dir" "BASE_IMAGE=${base[python]}" \
        "DEPENDENCIES_IMAGE=predictflow/runtime-dependencies:$version" ;;
  esac
done
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E "^predictflow/($(IFS='|'; echo "${ordered[*]}")):$version\b" >&2
