# vmtest: selftest: a boot the scenario does not define fails, and the guest still powers off
# timeout: 60
# boots: 2

boot_1() {
	true
}
