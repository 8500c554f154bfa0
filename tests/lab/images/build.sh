#!/usr/bin/env bash
# Builds the lab's images offline, from Debian packages only:
#   dockerlab/labhost:bookworm, dockerlab/labhost:trixie  systemd lab hosts, no Docker
#   dockerlab/labhost:trixie-docker28                     the trixie lab host, with apt pinned to
#                                                         take docker.io 28 from Debian forky
#   dockerlab/registry:bookworm                           Debian's docker-registry
#   dockerlab/squid:bookworm                              an HTTP proxy that logs every request
#   digitalocean/flask-helloworld:latest                  stand-in for the Docker Hub image
# Each image carries the sha256 of its inputs (this script, its recipe
# directories, the suite) in the label org.dockerlab.inputs; an image whose
# label matches is not rebuilt. Images are built in parallel with mmdebstrap
# (root file system from the machine's own apt sources) and `docker import`.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=$(realpath -m "${LAB_STATE:-$HERE/../../../.lab}")
BUILD="$STATE/build"
LOGS="$STATE/logs"
mkdir -p "$BUILD" "$LOGS"

LABEL=org.dockerlab.inputs

log() { printf '\033[1m[images]\033[0m %s\n' "$*"; }

# A recipe is a directory of tests/lab/images, or several joined by "+"
# (labhost+labhost-docker28): the image takes the files of each.
recipe_dirs() { # recipe -> one directory name a line
  tr + '\n' <<<"$1"
}

inputs_hash() { # recipe suite
  local dir
  {
    sha256sum <"$HERE/build.sh"
    recipe_dirs "$1" | while read -r dir; do
      (cd "$HERE/$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    done
    echo "suite=$2"
  } | sha256sum | cut -c1-16
}

current_hash() { # image
  docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}

packages() { # recipe -> comma-separated list, from each directory's packages file
  local dir
  recipe_dirs "$1" | while read -r dir; do
    [ ! -e "$HERE/$dir/packages" ] || grep -v -e '^#' -e '^[[:space:]]*$' "$HERE/$dir/packages"
  done | paste -sd, -
}

# Single-purpose images (registry, app) leave documentation out. Lab hosts keep
# it: they stand for real machines, where `dpkg --verify` must stay clean.
SLIM=(
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)

# build IMAGE RECIPE SUITE [mmdebstrap args...] -- [docker import -c changes...]
build() {
  local image=$1 recipe=$2 suite=$3
  shift 3
  local hooks=() changes=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do hooks+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ]; do changes+=(-c "$1"); shift; done

  local want tar="$BUILD/${image//[:\/]/_}.tar" logf="$LOGS/image-${image//[:\/]/_}.log"
  want=$(inputs_hash "$recipe" "$suite")
  if [ "$(current_hash "$image")" = "$want" ]; then
    log "$image is up to date ($LABEL=$want)"
    return 0
  fi
  log "building $image from Debian $suite (log: $logf)"
  local old
  old=$(docker image inspect -f '{{ .Id }}' "$image" 2>/dev/null || true)
  rm -f "$tar"
  if ! mmdebstrap --variant=minbase --include="$(packages "$recipe")" \
    "${hooks[@]}" "$suite" "$tar" >"$logf" 2>&1; then
    printf '[images] ERROR: mmdebstrap for %s failed; last lines of %s:\n' "$image" "$logf" >&2
    tail -n 15 "$logf" >&2
    return 1
  fi
  docker import "${changes[@]}" -c "LABEL $LABEL=$want" -m "dockerlab: $recipe on $suite" \
    "$tar" "$image" >>"$logf" 2>&1 || {
    printf '[images] ERROR: docker import of %s failed; last lines of %s:\n' "$image" "$logf" >&2
    tail -n 15 "$logf" >&2
    return 1
  }
  rm -f "$tar"
  # The previous build, now untagged, is only dead weight (ignore it if in use).
  [ -z "$old" ] || docker image rm "$old" >/dev/null 2>&1 || true
  log "built $image ($LABEL=$want)"
}

# mmdebstrap expands "$1" (the chroot directory) in its hooks itself.
# shellcheck disable=SC2016
labhost() { # tag: a suite, or trixie-docker28
  local tag=$1 suite=$1 recipe=labhost more=()
  case $tag in
    # Debian 13's userland with docker.io 28 from forky, by apt pinning (forky's
    # own systemd 262 does not boot on cgroup v1). Its packages are trixie's
    # lab host's; the roles' apt then takes the engine from forky.
    trixie-docker28)
      suite=trixie recipe=labhost+labhost-docker28
      more=(
        --customize-hook="copy-in $HERE/labhost-docker28/dockerlab-docker28.pref /etc/apt/preferences.d"
        --customize-hook="sh $HERE/labhost-docker28/forky-sources.sh \"\$1\""
      ) ;;
  esac
  build "dockerlab/labhost:$tag" "$recipe" "$suite" \
    --customize-hook="copy-in $HERE/labhost/dockerlab-proc-sys-rw.service /etc/systemd/system" \
    --customize-hook='chroot "$1" systemctl enable dockerlab-proc-sys-rw.service' \
    --customize-hook='chroot "$1" systemctl mask systemd-modules-load.service getty.target console-getty.service' \
    --customize-hook='rm -f "$1"/etc/machine-id "$1"/var/lib/dbus/machine-id; touch "$1"/etc/machine-id' \
    "${more[@]}" \
    -- \
    'ENV container=docker' \
    'CMD ["/lib/systemd/systemd"]'
}

registry() {
  build dockerlab/registry:bookworm registry bookworm "${SLIM[@]}" \
    --customize-hook="copy-in $HERE/registry/config.yml /etc/docker/registry" \
    -- \
    'USER docker-registry' \
    'EXPOSE 5000' \
    'CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]'
}

# The lab's HTTP proxy: Squid in the foreground (-N), which starts as root
# and serves as proxy; its log in /var/log/squid/access.log.
proxy() {
  build dockerlab/squid:bookworm squid bookworm "${SLIM[@]}" \
    --customize-hook="copy-in $HERE/squid/squid.conf /etc/squid" \
    -- \
    'EXPOSE 3128' \
    'CMD ["/usr/sbin/squid", "-N", "-f", "/etc/squid/squid.conf"]'
}

# shellcheck disable=SC2016
flask() {
  build digitalocean/flask-helloworld:latest flask-helloworld bookworm "${SLIM[@]}" \
    --customize-hook='mkdir -p "$1"/app' \
    --customize-hook="copy-in $HERE/flask-helloworld/app.py /app" \
    -- \
    'WORKDIR /app' \
    'ENV PYTHONUNBUFFERED=1' \
    'EXPOSE 5000' \
    'CMD ["python3", "app.py"]'
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(labhost:bookworm labhost:trixie labhost:trixie-docker28 registry proxy flask)

pids=()
for t in "${targets[@]}"; do
  case $t in
    labhost:*) labhost "${t#labhost:}" & ;;
    registry) registry & ;;
    proxy) proxy & ;;
    flask) flask & ;;
    *) echo "[images] ERROR: unknown image '$t' (labhost:SUITE, labhost:trixie-docker28, registry, proxy, flask)" >&2; exit 2 ;;
  esac
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
