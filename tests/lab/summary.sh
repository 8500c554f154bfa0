#!/usr/bin/env bash
# Prints the lab: each lab host, its address, and how to reach Docker on it.
set -Eeuo pipefail

mapfile -t hosts < <(docker ps -a --filter label=dockerlab.role=labhost --format '{{.Names}}' | sort)
registry_port=$(docker port dockerlab-registry 5000/tcp 2>/dev/null | head -n1 | sed 's/.*://' || true)

printf '\n\033[1mThe lab\033[0m (Docker network dockerlab; registry mirror http://dockerlab-registry:5000'
[ -z "$registry_port" ] || printf ', on this machine 127.0.0.1:%s' "$registry_port"
printf ')\n\n'
if [ ${#hosts[@]} -eq 0 ]; then
  echo "No lab hosts. Create them with: make lab"
  exit 0
fi
printf '%-24s %-9s %-8s %-16s %s\n' HOST DEBIAN STATE ADDRESS 'DOCKER INSIDE'
for h in "${hosts[@]}"; do
  dist=$(docker inspect -f '{{ index .Config.Labels "dockerlab.distribution" }}' "$h")
  state=$(docker inspect -f '{{ .State.Status }}' "$h")
  addr=$(docker inspect -f '{{ range .NetworkSettings.Networks }}{{ .IPAddress }}{{ end }}' "$h")
  inside="-"
  if [ "$state" = running ]; then
    if docker exec "$h" sh -c 'command -v docker' >/dev/null 2>&1; then
      inside=$(docker exec "$h" sh -c 'docker version -f "Docker {{.Server.Version}}" 2>/dev/null || echo "installed, daemon down"')
      if docker exec "$h" sh -c 'ss -Hltn "sport = :2376"' 2>/dev/null | grep -q .; then
        inside="$inside, TLS on $addr:2376"
      fi
    else
      inside="not installed yet"
    fi
  fi
  printf '%-24s %-9s %-8s %-16s %s\n' "$h" "$dist" "$state" "${addr:--}" "$inside"
done
h=${hosts[0]}
cat <<EOT

Reach a lab host:
  ansible all -m ansible.builtin.ping             # every lab host, through docker exec
  docker exec -it -u student $h bash   # a shell as the lab user
  docker exec $h docker ps             # Docker inside the host (Unix socket, as root)
  docker exec -u student $h docker ps  # as the lab user, through the docker group
Remove the lab hosts and their volumes: make lab-down
EOT
