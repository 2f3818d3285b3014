#!/usr/bin/env bash
# Debian packages the local cluster needs: iptables (kube-proxy and skein-init),
# conntrack, iproute2 (network namespaces), util-linux (setpriv), curl (the
# shell test image), prometheus (the stat --prometheus cluster test scrapes the
# proxies with a real one); for the images (images/build.ts copies these
# packages' files into them): busybox, ca-certificates and netbase, and skopeo,
# which reads the archives back in the tests; for the nodes:
# containerd, runc and containernetworking-plugins (bridge, host-local,
# portmap). Installed only when a command (or a package's file) is missing.
# `system-deps.sh bench` adds what `make bench` measures against: nginx and
# HAProxy as single-hop reference proxies, and wrk as the load generator.
set -euo pipefail
declare -A need=([iptables]=iptables [iptables-save]=iptables [conntrack]=conntrack [ip]=iproute2 [setpriv]=util-linux [curl]=curl [prometheus]=prometheus
  [busybox]=busybox [skopeo]=skopeo [containerd]=containerd [runc]=runc)
declare -A files=([/etc/ssl/certs/ca-certificates.crt]=ca-certificates [/etc/protocols]=netbase [/usr/lib/x86_64-linux-gnu/xtables/libxt_owner.so]=iptables
  [/usr/lib/cni/bridge]=containernetworking-plugins)
if [ "${1:-}" = bench ]; then need+=([nginx]=nginx-light [haproxy]=haproxy [wrk]=wrk); fi
missing=()
for cmd in "${!need[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}"); done
for file in "${!files[@]}"; do [ -e "$file" ] || missing+=("${files[$file]}"); done
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: $pkgs; install them as root (apt-get install $pkgs)" >&2
  exit 1
fi
echo "system-deps: installing $pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
# Packages such as prometheus ship a service that invoke-rc.d would start in the
# background; policy-rc.d exiting 101 forbids that. Ours is removed after, an
# existing one (as in container images) left as it was.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >&2
