# vmtest: crash states of a 1,000-file batch, a large file, a recursive delete, 12 applies in a row
# timeout: 1800
# boots: 1
#
# Big changes give many writes between flushes, so many more crash states (the
# checker samples between flushes). Recorded through dm-log-writes; every state is
# replayed and checked on the host (vmtests/crashcheck.sh).

. /vmtest/guest-logwrites.sh

T=$MNT/srv/data

# batch_spec N DIR: a spec writing N small files under DIR, to standard output.
batch_spec() {
	local i=1
	printf '{\n  "version": 1,\n  "description": "batch of %s files",\n  "ops": [\n' "$1"
	printf '    {"op": "mkdir", "path": "%s", "mode": "0755"}' "$2"
	while [ $i -le "$1" ]; do
		printf ',\n    {"op": "write", "path": "%s/file-%04d.conf", "content": "key = %d\\n", "mode": "0644"}' "$2" $i $i
		i=$((i + 1))
	done
	printf '\n  ]\n}\n'
}

boot_1() {
	vm_need_cmd init apply
	lw_start
	mkdir -p $T
	printf 'seed\n' > $T/README
	btrfs-txn init $T

	batch_spec 1000 batch > /tmp/batch.json
	lw_run batch-1000 subvol $T btrfs-txn apply --target $T /tmp/batch.json
	[ "$(ls $T/batch | wc -l)" -eq 1000 ] || vm_fail "the batch did not leave 1,000 files"

	# A 1 MiB file: its data spans many writes, and the exchange must not expose it
	# before all of them.
	head -c 786432 /dev/urandom | base64 | tr -d '\n' > /tmp/big.b64
	{
		printf '{"version": 1, "description": "large file", "ops": [\n'
		printf '{"op": "write", "path": "big.bin", "content_base64": "%s", "mode": "0600"},\n' "$(cat /tmp/big.b64)"
		printf '{"op": "write", "path": "small.txt", "content": "small\\n"}\n]}\n'
	} > /tmp/big.json
	lw_run large-file subvol $T btrfs-txn apply --target $T /tmp/big.json

	cat > /tmp/del.json <<'SPEC'
{
  "version": 1,
  "description": "drop the batch",
  "ops": [ {"op": "delete", "path": "batch", "recursive": true} ]
}
SPEC
	lw_run delete-recursive subvol $T btrfs-txn apply --target $T /tmp/del.json
	[ ! -e $T/batch ] || vm_fail "the recursive delete left $T/batch"

	# Small applies in a row, as a deployment makes them: each a handful of
	# flush epochs with few writes, so each adds states of its own (an epoch's
	# distinct reorderings run out quickly; more epochs are what add states).
	for i in $(seq 1 12); do
		cat > /tmp/r$i.json <<SPEC
{
  "version": 1,
  "description": "in a row $i",
  "ops": [
    {"op": "write", "path": "README", "content": "revision $i\\n"},
    {"op": "write", "path": "rev-$i", "content": "$i\\n", "mode": "0640"},
    {"op": "mkdir", "path": "d-$i", "mode": "0750"},
    {"op": "symlink", "path": "d-$i/latest", "target": "../rev-$i"}
  ]
}
SPEC
		lw_run row-$i subvol $T btrfs-txn apply --target $T /tmp/r$i.json
	done
	lw_finish
}
