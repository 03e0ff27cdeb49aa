#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo's verify hook: a stand-in for `nginx -t`. It refuses a config whose
# worker_processes is not a number or "auto", reading the staged tree only.
conf="$1/nginx.conf"
value=$(sed -n 's/^worker_processes[[:space:]]*\([^;]*\);.*/\1/p' "$conf")
case "$value" in
auto | [1-9] | [1-9][0-9]) echo "check-config: $conf ok (worker_processes $value)"; exit 0 ;;
*) echo "check-config: $conf: invalid worker_processes '$value'" >&2; exit 1 ;;
esac
