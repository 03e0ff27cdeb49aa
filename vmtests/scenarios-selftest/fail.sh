# vmtest: selftest: a failing step is reported as a failure, with the trace
# timeout: 60
# boots: 1

boot_1() {
	echo "selftest: the next step fails on purpose"
	false
	echo "selftest: not reached"
}
