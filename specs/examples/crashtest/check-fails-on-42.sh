#!/bin/sh
# Fails on purpose wherever release 42 is live: the vmcheck step that runs the
# example (vmtests/crashtest-selftest.sh) uses it to prove that a check script's
# verdict reaches the result, state by state.
if [ "$(readlink "$1/current")" = releases/42 ]; then
	echo "release 42 is live (this check fails there on purpose)"
	exit 1
fi
exit 0
