# vmtest: selftest: a scenario that never ends is killed and reported as a timeout
# timeout: 15
# boots: 1

boot_1() {
	echo "selftest: hanging on purpose"
	while :; do sleep 3600; done
}
