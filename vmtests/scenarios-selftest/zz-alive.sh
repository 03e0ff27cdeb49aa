# vmtest: selftest: the suite goes on after a timeout (runs last, must pass)
# timeout: 60
# boots: 1

boot_1() {
	[ -b $DATA ]
	[ -b $LOG ]
}
