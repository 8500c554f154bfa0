#!/usr/bin/env bash
# Set-up and life cycle of the local lab, behind `make lab`, `make test`,
# `make lab-down` and `make lint`. Every step is idempotent: it checks first
# and only acts on what is missing, so running it twice is safe and cheap.
#
#   tests/lab/lab.sh up        deps, engine, images, registry, hosts, site.yml, channels.yml, summary
#   tests/lab/lab.sh test      deps, engine, images, registry, lint, sanity, unit tests, Molecule
#   tests/lab/lab.sh down      remove the lab hosts and their volumes (nothing else)
#   tests/lab/lab.sh lint      ansible-lint (production), yamllint, ruff, shellcheck
#   tests/lab/lab.sh audit     playbooks/audit.yml on the lab hosts
#   tests/lab/lab.sh bench     bench/bench.py (BENCH_ARGS="--only rerun --samples 5")
#   tests/lab/lab.sh STEP...   any of: preflight deps collection engine images registry
#                              hosts site channels summary sanity unit molecule
#
# Settings (environment or `make VAR=value`), documented in the README:
#   LAB_HOSTS          distributions of the lab hosts, one host each (bookworm;
#                      also trixie, trixie-docker28)
#   LAB_REGISTRY_PORT  loopback port of the local registry on this machine (5000)
#   MOLECULE_SCENARIOS scenarios `test` runs (all of them)
set -Eeuo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$LAB_ROOT"

LAB_HOSTS=${LAB_HOSTS:-bookworm}
LAB_REGISTRY_PORT=${LAB_REGISTRY_PORT:-5000}
LAB_VENV=${LAB_VENV:-$LAB_ROOT/.venv}
LAB_STATE=${LAB_STATE:-$LAB_ROOT/.lab}
# Seams for the tests of this script's own error paths (tests/lab/test_lab_sh.py).
LAB_OS_RELEASE=${LAB_OS_RELEASE:-/etc/os-release}
LAB_DOCKERD=${LAB_DOCKERD:-dockerd}
LAB_DOCKERD_LOG=${LAB_DOCKERD_LOG:-/var/log/dockerlab-dockerd.log}
LAB_DOCKERD_PIDFILE=${LAB_DOCKERD_PIDFILE:-/var/run/docker.pid}
LAB_ENGINE_TIMEOUT=${LAB_ENGINE_TIMEOUT:-60}

# Debian packages the controller needs, with the command that proves each.
# docker.io only when no engine answers and no dockerd is installed: a host
# with Docker's own docker-ce keeps it.
LAB_PACKAGES=(mmdebstrap shellcheck curl iproute2 ca-certificates)

export PATH="$LAB_VENV/bin:$PATH"
export ANSIBLE_CONFIG="$LAB_ROOT/ansible.cfg"

log() { printf '\033[1m[lab]\033[0m %s\n' "$*"; }
die() {
  printf '\033[1;31m[lab] ERROR:\033[0m %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do printf '        %s\n' "$line" >&2; done
  exit 1
}

# Run one named step and print how long it took.
step() {
  local name=$1 start ms
  shift
  start=${EPOCHREALTIME/./}
  "$@"
  ms=$(((${EPOCHREALTIME/./} - start) / 1000))
  printf '\033[1m[lab]\033[0m step %-9s done in %d.%01d s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
}

# ---------------------------------------------------------------------------
# preflight: refuse what cannot work before anything is installed or started
# ---------------------------------------------------------------------------
preflight() {
  if [ "$(id -u)" -ne 0 ]; then
    die "this must run as root: it installs Debian packages and starts a Docker engine." \
      "Run it as root, or with sudo:  sudo make ${MAKE_TARGET:-lab}"
  fi
  local id="" id_like="" version=""
  if [ -r "$LAB_OS_RELEASE" ]; then
    # shellcheck disable=SC1090  # the file is the OS's own key=value list
    id=$(. "$LAB_OS_RELEASE" && echo "${ID:-}")
    # shellcheck disable=SC1090
    id_like=$(. "$LAB_OS_RELEASE" && echo "${ID_LIKE:-}")
    # shellcheck disable=SC1090
    version=$(. "$LAB_OS_RELEASE" && echo "${VERSION_ID:-}")
  fi
  case " $id $id_like " in
    *" debian "*) ;;
    *) die "this machine is not Debian (${LAB_OS_RELEASE} says ID=${id:-unknown})." \
      "The lab set-up builds its images with mmdebstrap and installs packages with apt;" \
      "it needs Debian 12 (bookworm) or newer. Use a Debian machine or VM." ;;
  esac
  if ! command -v apt-get >/dev/null 2>&1; then
    die "apt-get is not on PATH: the lab set-up installs its packages with apt." \
      "Use a Debian machine with apt, or put apt-get on PATH."
  fi
  if [ "$id" = debian ] && [ -n "$version" ] && [ "${version%%.*}" -lt 12 ] 2>/dev/null; then
    die "Debian ${version} is too old: the lab needs Debian 12 (bookworm) or newer (Python 3.11, mmdebstrap 1.x)."
  fi
  local suite
  for suite in $LAB_HOSTS; do
    case $suite in
      bookworm | trixie | trixie-docker28) ;;
      *) die "LAB_HOSTS has '${suite}', which is not a supported distribution." \
        "Use a space-separated list of: bookworm (Debian 12), trixie (Debian 13)," \
        "trixie-docker28 (Debian 13 with Docker 28 from forky); e.g. LAB_HOSTS=\"bookworm trixie\"." ;;
    esac
  done
  case $LAB_REGISTRY_PORT in
    '' | *[!0-9]*) die "LAB_REGISTRY_PORT='${LAB_REGISTRY_PORT}' is not a port number: use 1-65535, e.g. LAB_REGISTRY_PORT=5001." ;;
  esac
  if [ "$LAB_REGISTRY_PORT" -lt 1 ] || [ "$LAB_REGISTRY_PORT" -gt 65535 ]; then
    die "LAB_REGISTRY_PORT=${LAB_REGISTRY_PORT} is out of range: use 1-65535, e.g. LAB_REGISTRY_PORT=5001."
  fi
}

# ---------------------------------------------------------------------------
# deps: Debian packages (only the missing ones) and the pinned Python venv
# ---------------------------------------------------------------------------
pkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

deps() {
  mkdir -p "$LAB_STATE_LOGS"
  local missing=() pkg
  for pkg in "${LAB_PACKAGES[@]}"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  if ! command -v docker >/dev/null 2>&1 || { ! engine_answers && ! command -v dockerd >/dev/null 2>&1; }; then
    pkg_installed docker.io || missing+=(docker.io)
  fi
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pkg_installed python3-venv || missing+=(python3-venv)
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed: check the machine's apt sources and network."
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LAB_STATE_LOGS/apt.log" 2>&1 ||
      die "apt-get install ${missing[*]} failed; last lines of $LAB_STATE_LOGS/apt.log:" \
        "$(tail -n 15 "$LAB_STATE_LOGS/apt.log")"
  else
    log "Debian packages present"
  fi
  venv
  collection
}

# The checkout as the collection dockerlab.docker, where ansible.cfg's
# collections_path (and ansible-lint and Molecule) look for it.
LAB_COLLECTION_LINK=.ansible/collections/ansible_collections/dockerlab/docker
collection() {
  if [ "$(readlink "$LAB_COLLECTION_LINK" 2>/dev/null)" != ../../../.. ]; then
    mkdir -p "$(dirname "$LAB_COLLECTION_LINK")"
    ln -sfn ../../../.. "$LAB_COLLECTION_LINK"
    log "linked the checkout as the collection dockerlab.docker ($LAB_COLLECTION_LINK)"
  fi
}

venv() {
  local want have=""
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  [ -r "$LAB_VENV/.requirements.sha256" ] && have=$(cat "$LAB_VENV/.requirements.sha256")
  if [ "$want" = "$have" ] && [ -x "$LAB_VENV/bin/ansible-playbook" ]; then
    log "Python venv up to date ($LAB_VENV)"
    return
  fi
  log "creating the Python venv $LAB_VENV from requirements.txt"
  [ -x "$LAB_VENV/bin/python" ] || python3 -m venv "$LAB_VENV" ||
    die "python3 -m venv $LAB_VENV failed (is python3-venv installed?)"
  "$LAB_VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt \
    >"$LAB_STATE_LOGS/pip.log" 2>&1 ||
    die "pip install -r requirements.txt failed; last lines of $LAB_STATE_LOGS/pip.log:" \
      "$(grep -v '^WARNING: Location' "$LAB_STATE_LOGS/pip.log" | tail -n 15)"
  echo "$want" >"$LAB_VENV/.requirements.sha256"
}

# ---------------------------------------------------------------------------
# engine: use the running Docker engine, or start one and wait for it
# ---------------------------------------------------------------------------
engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

wait_engine() {
  local deadline=$((SECONDS + LAB_ENGINE_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    engine_answers && return 0
    sleep 1
  done
  return 1
}

engine() {
  if engine_answers; then
    log "Docker engine answers (server $(docker version -f '{{.Server.Version}}' 2>/dev/null))"
    return
  fi
  # A DOCKER_HOST elsewhere is somebody else's engine: never start one for it.
  # A local Unix socket is ours to serve: dockerd is started listening there.
  local listen=()
  case ${DOCKER_HOST:-} in
    '' | unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
    unix://*) listen=(-H "$DOCKER_HOST") ;;
    *) die "DOCKER_HOST=${DOCKER_HOST} is set but no Docker engine answers there." \
      "Start that engine, or unset DOCKER_HOST to let the lab use (or start) the local one." ;;
  esac
  if [ ${#listen[@]} -eq 0 ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]; then
    log "starting docker.service through systemd"
    systemctl start docker.service ||
      die "systemctl start docker.service failed." "$(journalctl -u docker.service -n 15 --no-pager 2>&1)"
    wait_engine || die "docker.service started but the engine did not answer within ${LAB_ENGINE_TIMEOUT} s." \
      "$(journalctl -u docker.service -n 15 --no-pager 2>&1)"
    return
  fi
  # No systemd as PID 1: run dockerd ourselves, detached, with a log and a pid file.
  if [ -s "$LAB_DOCKERD_PIDFILE" ]; then
    local pid comm=""
    pid=$(cat "$LAB_DOCKERD_PIDFILE")
    [ -r "/proc/$pid/comm" ] && comm=$(cat "/proc/$pid/comm")
    if [ "$comm" = dockerd ]; then
      log "dockerd (pid $pid) is running but does not answer yet: waiting"
      wait_engine && return
      die "dockerd (pid $pid) runs but did not answer within ${LAB_ENGINE_TIMEOUT} s." \
        "Look at its log, or stop it (kill $pid) and run this again."
    fi
    log "removing the stale pid file $LAB_DOCKERD_PIDFILE (pid $pid is ${comm:-gone})"
    rm -f "$LAB_DOCKERD_PIDFILE"
  fi
  command -v "$LAB_DOCKERD" >/dev/null 2>&1 ||
    die "no Docker engine answers and '$LAB_DOCKERD' is not installed." "Install docker.io (apt-get install docker.io) and run this again."
  log "starting $LAB_DOCKERD (log: $LAB_DOCKERD_LOG, pid file: $LAB_DOCKERD_PIDFILE)"
  mkdir -p "$(dirname "$LAB_DOCKERD_LOG")"
  setsid "$LAB_DOCKERD" --pidfile "$LAB_DOCKERD_PIDFILE" "${listen[@]}" >>"$LAB_DOCKERD_LOG" 2>&1 </dev/null &
  local dpid=$!
  local deadline=$((SECONDS + LAB_ENGINE_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    engine_answers && {
      log "Docker engine answers (server $(docker version -f '{{.Server.Version}}' 2>/dev/null))"
      return
    }
    kill -0 "$dpid" 2>/dev/null || break
    sleep 1
  done
  local why="did not answer within ${LAB_ENGINE_TIMEOUT} s"
  kill -0 "$dpid" 2>/dev/null || why="exited"
  die "the Docker engine did not start: $LAB_DOCKERD $why. Last lines of $LAB_DOCKERD_LOG:" \
    "$(tail -n 15 "$LAB_DOCKERD_LOG" 2>/dev/null)"
}

# ---------------------------------------------------------------------------
# images, registry, hosts, site, summary
# ---------------------------------------------------------------------------
images() { tests/lab/images/build.sh; }

playbook() { ansible-playbook "$@"; }

registry() {
  playbook tests/lab/registry.yml -e "lab_registry_port=$LAB_REGISTRY_PORT"
}

# LAB_HOSTS="bookworm trixie bookworm" -> dockerlab-bookworm-1, dockerlab-trixie-1,
# dockerlab-bookworm-2, as the JSON list tests/lab/hosts.yml takes. The
# distribution is the image's tag (dockerlab/labhost:trixie-docker28) and the
# inventory's group (lab_trixie_docker28: "-" becomes "_").
hosts_json() {
  local suite out="" sep=""
  declare -A count=()
  for suite in $LAB_HOSTS; do
    count[$suite]=$((${count[$suite]:-0} + 1))
    out+="$sep{\"name\": \"dockerlab-$suite-${count[$suite]}\", \"distribution\": \"$suite\"}"
    sep=", "
  done
  echo "[$out]"
}

hosts() {
  playbook tests/lab/hosts.yml -e "{\"lab_hosts\": $(hosts_json)}"
}

site() {
  # The inventory is read anew: the plugin lists the lab hosts that now exist.
  playbook playbooks/site.yml
}

channels() {
  # The walkthrough through every channel, as the lab user, with its table.
  playbook playbooks/channels.yml
}

summary() { tests/lab/summary.sh; }

bench() {
  # Benchmarks on bench hosts of their own; a table and bench/results/*.json,
  # and the reconfiguration's requests over time as bench/results/reconfigure.png.
  local args=()
  read -r -a args <<<"${BENCH_ARGS:-}"
  bench_deps
  python bench/bench.py "${args[@]}"
  if python -c 'import json, sys; sys.exit(0 if json.load(open("bench/results/latest.json")).get("reconfigure") else 1)'; then
    python bench/plot.py
  fi
}

# The bench's own Python packages (matplotlib for bench/plot.py), into the
# venv, once per version of bench/requirements.txt.
bench_deps() {
  local want have=""
  want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
  [ -r "$LAB_VENV/.bench-requirements.sha256" ] && have=$(cat "$LAB_VENV/.bench-requirements.sha256")
  [ "$want" = "$have" ] && return
  log "installing the bench's Python packages (bench/requirements.txt)"
  "$LAB_VENV/bin/python" -m pip install -q --disable-pip-version-check -r bench/requirements.txt \
    >"$LAB_STATE_LOGS/pip-bench.log" 2>&1 ||
    die "pip install -r bench/requirements.txt failed; last lines of $LAB_STATE_LOGS/pip-bench.log:" \
      "$(grep -v '^WARNING: Location' "$LAB_STATE_LOGS/pip-bench.log" | tail -n 15)"
  echo "$want" >"$LAB_VENV/.bench-requirements.sha256"
}

audit() {
  # Read-only on the lab hosts; reports in reports/audit/ of the checkout.
  # Fails on any finding at or above docker_audit_fail_on (high).
  playbook playbooks/audit.yml -e "docker_audit_report_dir=$LAB_ROOT/reports/audit"
}

down() {
  if ! engine_answers; then
    log "no Docker engine answers: there are no lab hosts to remove"
    return
  fi
  local ids vols
  ids=$(docker ps -aq --filter label=dockerlab.role=labhost)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086  # one id per word
    docker rm -f -v $ids >/dev/null
    log "removed lab hosts: $(echo "$ids" | wc -w)"
  fi
  vols=$(docker volume ls -q --filter label=dockerlab.role=labhost)
  if [ -n "$vols" ]; then
    # shellcheck disable=SC2086
    docker volume rm $vols >/dev/null
    log "removed their volumes: $vols"
  fi
  [ -n "$ids$vols" ] || log "no lab hosts to remove"
}

# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------
lint() {
  local rc=0
  log "yamllint";     yamllint --strict . || rc=1
  log "ansible-lint"; ansible-lint || rc=1
  log "ruff";         { ruff check . && ruff format --check .; } || rc=1
  log "shellcheck";   shellcheck -x tests/lab/*.sh tests/lab/images/*.sh tests/lab/images/*/*.sh .ci/run || rc=1
  [ $rc -eq 0 ] || die "lint failed (see above)"
}

# ansible-test runs only in a directory named ansible_collections/NS/NAME,
# and not inside this git checkout (it would take the tree from git and
# find it ignored): the working tree (tracked and new files, not ignored
# ones) is copied outside it for each run, one directory per checkout.
ansible_test_tree() {
  if [ -z "${LAB_ANSIBLE_TEST_TREE:-}" ]; then
    LAB_ANSIBLE_TEST_TREE=${TMPDIR:-/tmp}/dockerlab-ansible-test.$(printf %s "$LAB_ROOT" | sha256sum | cut -c1-12)
    LAB_ANSIBLE_TEST_TREE+=/ansible_collections/dockerlab/docker
  fi
  rm -rf "$LAB_ANSIBLE_TEST_TREE"
  mkdir -p "$LAB_ANSIBLE_TEST_TREE"
  local path
  git ls-files -z -c -o --exclude-standard | while IFS= read -r -d '' path; do
    # A tracked file deleted in the working tree is not part of it.
    if [ -e "$path" ] || [ -L "$path" ]; then printf '%s\0' "$path"; fi
  done | tar --null -T - -cf - | tar -C "$LAB_ANSIBLE_TEST_TREE" -xf -
  # ansible-test bootstraps pip in its virtual environments with a get-pip.py
  # it downloads from ci-files.testing.ansible.com, which is not a package
  # registry; the stand-in in its cache takes pip from Python and PyPI.
  local version
  version=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" \
    "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n 1)
  [ -n "$version" ] || die "cannot tell which pip ansible-test bootstraps (ansible_test/_internal/python_requirements.py changed?)"
  mkdir -p "$HOME/.ansible/test/cache"
  install -m 0644 tests/lab/ansible_test_get_pip.py "$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
}

# ansible-test sanity, every test this machine can run, in virtual
# environments of its own (--venv): only Python 3.11 is here (Debian 12's).
sanity() {
  ansible_test_tree
  (cd "$LAB_ANSIBLE_TEST_TREE" && ansible-test sanity --venv --python 3.11 --color no)
}

unit() {
  # The unit tier through ansible-test, as a collection's is run, then the
  # lab set-up's own tests with pytest. Exit 5 means pytest collected
  # nothing; that is a failure here: an empty run would prove nothing.
  ansible_test_tree
  (cd "$LAB_ANSIBLE_TEST_TREE" && ansible-test units --venv --python 3.11 --color no)
  python -m pytest -q tests/lab
}

molecule_all() {
  local scenarios=${MOLECULE_SCENARIOS:-}
  if [ -z "$scenarios" ]; then
    scenarios=$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort | tr '\n' ' ')
  fi
  local s failed=()
  for s in $scenarios; do
    log "molecule test -s $s"
    molecule test -s "$s" || failed+=("$s")
  done
  [ ${#failed[@]} -eq 0 ] || die "Molecule scenarios failed: ${failed[*]}"
}

# ---------------------------------------------------------------------------
LAB_STATE_LOGS="$LAB_STATE/logs"

run() {
  local s
  for s in "$@"; do
    case $s in
      preflight | deps | venv | collection | engine | images | registry | hosts | site | channels | summary | audit | bench | down | lint | sanity | unit)
        step "$s" "$s" ;;
      molecule) step molecule molecule_all ;;
      *) die "unknown step '$s'" "Steps: preflight deps venv collection engine images registry hosts site channels summary audit bench down lint sanity unit molecule" ;;
    esac
  done
}

[ $# -gt 0 ] || set -- up
case $1 in
  up) MAKE_TARGET=lab run preflight deps engine images registry hosts site channels summary ;;
  test) MAKE_TARGET='test' run preflight deps engine images registry lint sanity unit molecule ;;
  down) MAKE_TARGET=lab-down run down ;;
  lint) MAKE_TARGET=lint run preflight deps lint ;;
  audit) MAKE_TARGET=audit run preflight deps engine audit ;;
  bench) MAKE_TARGET=bench run preflight deps engine images registry bench ;;
  *) run "$@" ;;
esac
