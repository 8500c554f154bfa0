#!/bin/sh
# Record the requests dockerd sends an authorization plugin for the
# walkthrough and for each way out of a container, as the docker CLI of the
# lab host makes them. Run inside a converged lab host (make lab), as root:
#   sh authz_capture.sh /root/authz_capture.py > /root/docker-VERSION.json
# Only creates what it records (nothing privileged is started), and removes
# it, the plugin and its daemon.json entry again.
set -eu
capture=$1
image=digitalocean/flask-helloworld
plugin=dockerlab-capture
out=/root/authz-capture.jsonl
rm -f "$out"
cp /etc/docker/daemon.json /root/daemon.json.before-capture
systemd-run --unit "$plugin" --quiet python3 "$capture" serve "/run/docker/plugins/$plugin.sock" "$out"
for _ in $(seq 50); do [ -S "/run/docker/plugins/$plugin.sock" ] && break; sleep 0.1; done
python3 - "$plugin" <<'EOF'
import json, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path))
config["authorization-plugins"] = [sys.argv[1]]
json.dump(config, open(path, "w"), indent=2)
EOF
systemctl reload docker
sleep 2

case_() { curl -fsS -o /dev/null --unix-socket /run/docker.sock "http://localhost/_ping?case=$1"; }
try() { "$@" >/dev/null 2>&1 || true; }

case_ pull; try docker pull "$image"
case_ images; try docker images
case_ create; try docker create --name capture-app -p 1341:5000 "$image"
case_ start; try docker start capture-app
case_ ps; try docker ps -a
case_ exec; try docker exec capture-app id
case_ exec-privileged; try docker exec --privileged capture-app id
case_ stop; try docker stop -t 1 capture-app
case_ privileged; try docker create --name capture-x1 --privileged "$image"
case_ bind-root; try docker create --name capture-x2 -v /:/host "$image"
case_ bind-socket; try docker create --name capture-x3 -v /var/run/docker.sock:/var/run/docker.sock "$image"
case_ mount-bind; try docker create --name capture-x4 --mount type=bind,src=/etc,dst=/x "$image"
case_ volume-bind; try docker volume create --driver local -o type=none -o o=bind -o device=/ capture-hostroot
case_ volume-named; try docker create --name capture-x5 -v capture-data:/data "$image"
case_ cap-sys-admin; try docker create --name capture-x6 --cap-add SYS_ADMIN "$image"
case_ cap-all; try docker create --name capture-x7 --cap-add ALL "$image"
case_ pid-host; try docker create --name capture-x8 --pid host "$image"
case_ ipc-host; try docker create --name capture-x9 --ipc host "$image"
case_ uts-host; try docker create --name capture-x10 --uts host "$image"
case_ net-host; try docker create --name capture-x11 --network host "$image"
case_ userns-host; try docker create --name capture-x12 --userns host "$image"
case_ device; try docker create --name capture-x13 --device /dev/null:/dev/xnull "$image"
case_ seccomp-unconfined; try docker create --name capture-x14 --security-opt seccomp=unconfined "$image"
case_ apparmor-unconfined; try docker create --name capture-x15 --security-opt apparmor=unconfined "$image"
case_ nnp-false; try docker create --name capture-x16 --security-opt no-new-privileges=false "$image"
case_ systempaths-unconfined; try docker create --name capture-x17 --security-opt systempaths=unconfined "$image"
case_ cgroup-parent; try docker create --name capture-x18 --cgroup-parent / "$image"
case_ hardened; try docker create --name capture-x19 --cap-drop ALL --cap-add NET_BIND_SERVICE --read-only \
  --security-opt no-new-privileges=true --pids-limit 64 --memory 64m "$image"
case_ rm; try docker rm -f capture-app
case_ end

# Out again: the plugin leaves daemon.json before it stops.
cp /root/daemon.json.before-capture /etc/docker/daemon.json
systemctl reload docker
sleep 2
for name in capture-x1 capture-x2 capture-x3 capture-x4 capture-x5 capture-x6 capture-x7 capture-x8 \
  capture-x9 capture-x10 capture-x11 capture-x12 capture-x13 capture-x14 capture-x15 capture-x16 \
  capture-x17 capture-x18 capture-x19 capture-app; do
  docker rm -f "$name" >/dev/null 2>&1 || true
done
docker volume rm capture-hostroot capture-data >/dev/null 2>&1 || true
systemctl stop "$plugin"
python3 "$capture" fixture "$out" "$(dockerd --version | cut -d' ' -f3 | tr -d ,)"
