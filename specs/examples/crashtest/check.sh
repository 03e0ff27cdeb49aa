#!/bin/sh
# A deployment's own check, run by btrfs-txn-crashtest on every recovered crash state
# with the tree's path: here, the config is whole and 'current' names a release that
# is there. Exit non-zero to report the state as a violation.
tree=$1
grep -q '^worker_processes [0-9]*;$' "$tree/app.conf" || { echo "app.conf is torn"; exit 1; }
[ -f "$tree/current/VERSION" ] || { echo "current -> $(readlink "$tree/current") has no VERSION"; exit 1; }
release=$(sed -n 's/^release = //p' "$tree/current/VERSION")
case $(readlink "$tree/current") in
releases/"$release") ;;
*) echo "current -> $(readlink "$tree/current") holds release $release"; exit 1 ;;
esac
