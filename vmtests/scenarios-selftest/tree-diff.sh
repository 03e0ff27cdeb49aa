# vmtest: selftest: vm_expect_tree catches a tree that differs only in a file's mode
# timeout: 60
# boots: 1

boot_1() {
	mkdir -p /tmp/a /tmp/b
	printf 'same\n' > /tmp/a/file
	printf 'same\n' > /tmp/b/file
	chmod 0644 /tmp/a/file
	chmod 0600 /tmp/b/file
	vm_tree /tmp/a > /tmp/tree.a
	vm_expect_tree /tmp/b /tmp/tree.a
	echo "selftest: not reached"
}
