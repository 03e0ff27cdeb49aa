# vmtest: selftest: a scenario needing a command this build lacks is reported as a skip
# timeout: 60
# boots: 1

boot_1() {
	vm_need_cmd no-such-command
	echo "selftest: not reached"
	false
}
