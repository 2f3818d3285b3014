#!/bin/sh
# Runs one container process inside its pod: called through `ip netns exec`,
# which gives it the pod's network namespace and a private mount namespace.
# Here the pod's volumes are bind-mounted at their mountPaths (visible to this
# container only), then privileges are dropped to the container's user and
# capabilities, and the container's command replaces this shell.
# usage: launch.sh <mounts-file> <uid> <gid> <bounding-caps> <added-caps|-> <workdir|-> -- command [args...]
# caps are setpriv lists such as +chown,+kill.
# mounts-file: one "source<TAB>target<TAB>ro|rw" per line.
set -eu
mounts=$1 uid=$2 gid=$3 bounding=$4 added=$5 workdir=$6
shift 6
[ "$1" = "--" ] && shift
tab=$(printf '\t')
while IFS="$tab" read -r src dst mode; do
  [ -n "$src" ] || continue
  if [ -d "$src" ]; then
    mkdir -p "$dst"
  else
    mkdir -p "$(dirname "$dst")"
    [ -e "$dst" ] || : > "$dst"
  fi
  mount --bind "$src" "$dst"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$dst"; fi
done < "$mounts"
if [ "$workdir" != "-" ]; then cd "$workdir"; fi
# The bounding set is what a runtime grants by default plus what the container
# added; a non-root user gets the added ones as ambient capabilities, which is
# how they survive the exec into its command.
if [ "$uid" != 0 ] && [ "$added" != "-" ]; then
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps="$added" --ambient-caps="$added" --bounding-set="-all,$bounding" -- "$@"
fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --bounding-set="-all,$bounding" -- "$@"
