# fleet-lib.sh: a fleet of ssh hosts on this machine for the Ansible collection.
#
# Source it after tests/integration/lib.sh (at_cleanup, ok, manifest, skip_all). It gives:
#   fleet_require            skip (exit 77) unless root, Btrfs, loop devices, sshd, ansible
#   fleet_start N            N hosts h1..hN: each /usr/sbin/sshd -D in its own mount namespace
#                            on 127.0.0.(i+1):$FLEET_PORT, with its own host key and its own
#                            loop-backed Btrfs mounted at $FLEET_MNT (the same path in every
#                            namespace), the target $FLEET_TARGET made by `btrfs-txn init`,
#                            and the build's btrfs-txn bind-mounted at /usr/local/sbin/btrfs-txn
#   fleet_install_collection build the collection's tarball and install it with ansible-galaxy
#   fleet_in HOST CMD...     run CMD inside HOST's mount namespace (to read what it holds)
#   fleet_playbook OUT PLAYBOOK ARGS...  ansible-playbook with our JSON callback into OUT
#
# Everything is under build/fleet/: keys, sshd configs, images, the inventory and
# ansible.cfg. Only loopback addresses are used. Every sshd, every process left in a
# host's namespace, every ssh control master and every loop device is stopped or
# detached in lib.sh's trap, even when a scenario fails.

FLEET=${FLEET:-$TOP/build/fleet}
FLEET_PORT=${FLEET_PORT:-42022}
FLEET_MNT=$FLEET/mnt
FLEET_TARGET=$FLEET_MNT/app
FLEET_BIN=${FLEET_BIN:-$TOP/build/btrfs-txn}
FLEET_IMAGE_SIZE=${FLEET_IMAGE_SIZE:-256M}
declare -A FLEET_PID=()

fleet_require() {
	require_btrfs
	command -v unshare >/dev/null && command -v nsenter >/dev/null || skip_all "needs unshare and nsenter (util-linux)"
	[ -x /usr/sbin/sshd ] || skip_all "needs /usr/sbin/sshd (openssh-server; make deps)"
	command -v ansible-playbook >/dev/null || skip_all "needs ansible-playbook (ansible-core; make deps)"
	command -v ssh-keygen >/dev/null || skip_all "needs ssh-keygen (openssh-client)"
	[ -x "$FLEET_BIN" ] || { echo "Bail out! $FLEET_BIN is not built"; exit 1; }
	unshare --mount --propagation private true 2>/dev/null || skip_all "cannot make a mount namespace"
}

# The hosts' address: h1 is 127.0.0.2, h2 127.0.0.3, ...
fleet_addr() {
	echo "127.0.0.$((${1#h} + 1))"
}

_fleet_stop_host() {
	local host=$1 pid=$2 ns p
	ssh -F /dev/null -o ControlPath="$FLEET/cp/$(fleet_addr "$host")-$FLEET_PORT" -O exit "$(fleet_addr "$host")" >/dev/null 2>&1
	ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || return 0
	# Every process in the host's namespace was started by this harness (sshd, its
	# sessions, a lock holder): stop them all so the namespace, and its mount, go away.
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && kill -TERM "${p#/proc/}" 2>/dev/null
	done
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# _fleet_wait_port ADDR: until sshd answers on ADDR:$FLEET_PORT (at most 10 s).
_fleet_wait_port() {
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/$1/$FLEET_PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

fleet_start() {
	local n=$1 i host addr dev dir
	if ss -ltn 2>/dev/null | grep -q ":$FLEET_PORT\b"; then
		echo "Bail out! port $FLEET_PORT is in use (FLEET_PORT=... to choose another)"
		exit 1
	fi
	rm -rf "$FLEET" && mkdir -p "$FLEET/cp" "$FLEET_MNT" "$FLEET/tmp" && chmod 0700 "$FLEET" || exit 1
	# sshd's privilege separation directory; systemd makes it when it starts ssh.service.
	if [ ! -d /run/sshd ]; then
		mkdir -m 0755 /run/sshd && at_cleanup "rmdir /run/sshd"
	fi
	ssh-keygen -q -t ed25519 -N '' -C fleet-client -f "$FLEET/id_fleet" || exit 1
	cp "$FLEET/id_fleet.pub" "$FLEET/authorized_keys" && chmod 0600 "$FLEET/authorized_keys"
	: >"$FLEET/known_hosts"
	{
		echo "[fleet]"
		for i in $(seq "$n"); do
			echo "h$i ansible_host=$(fleet_addr "h$i")"
		done
		echo "[all:vars]"
		echo "target=$FLEET_TARGET"
		echo "ansible_port=$FLEET_PORT"
		echo "ansible_user=root"
		echo "ansible_ssh_private_key_file=$FLEET/id_fleet"
		echo "ansible_python_interpreter=/usr/bin/python3"
	} >"$FLEET/inventory.ini"
	cat >"$FLEET/ansible.cfg" <<-EOF
		[defaults]
		inventory = $FLEET/inventory.ini
		collections_paths = $FLEET/collections
		local_tmp = $FLEET/tmp
		remote_tmp = $FLEET/remote-tmp
		forks = 16
		gathering = explicit
		retry_files_enabled = False
		host_key_checking = True
		interpreter_python = /usr/bin/python3
		timeout = 10
		[ssh_connection]
		pipelining = True
		control_path_dir = $FLEET/cp
		control_path = %(directory)s/%%h-%%p
		ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=$FLEET/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes
	EOF
	export ANSIBLE_CONFIG=$FLEET/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
	export ANSIBLE_COLLECTIONS_PATH=$FLEET/collections ANSIBLE_GALAXY_CACHE_DIR=$FLEET/galaxy-cache
	for i in $(seq "$n"); do
		host=h$i addr=$(fleet_addr "$host") dir=$FLEET/$host
		mkdir -p "$dir"
		ssh-keygen -q -t ed25519 -N '' -C "$host" -f "$dir/ssh_host_ed25519_key" || exit 1
		echo "[$addr]:$FLEET_PORT $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >>"$FLEET/known_hosts"
		cat >"$dir/sshd_config" <<-EOF
			ListenAddress $addr:$FLEET_PORT
			HostKey $dir/ssh_host_ed25519_key
			PidFile $dir/sshd.pid
			AuthorizedKeysFile $FLEET/authorized_keys
			PermitRootLogin prohibit-password
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			PrintMotd no
			MaxStartups 64
			MaxSessions 64
			Subsystem sftp internal-sftp
			LogLevel ERROR
		EOF
		truncate -s "$FLEET_IMAGE_SIZE" "$dir/disk.img"
		dev=$(losetup --find --show "$dir/disk.img") || skip_all "cannot attach a loop device"
		at_cleanup "losetup -d '$dev'"
		mkfs.btrfs -q -f "$dev" >/dev/null 2>&1 || { echo "Bail out! mkfs.btrfs failed on $dev"; exit 1; }
		# The namespace's first process mounts its Btrfs and the build's btrfs-txn (on a
		# tmpfs over /usr/local/sbin, seen only there), makes the target, then becomes sshd.
		unshare --mount --propagation private -- /bin/sh -c '
			set -e
			mount -t btrfs "$1" "$2"
			mount -t tmpfs -o mode=0755,size=1m fleet-sbin /usr/local/sbin
			: >/usr/local/sbin/btrfs-txn
			mount --bind "$3" /usr/local/sbin/btrfs-txn
			/usr/local/sbin/btrfs-txn init -q "$2/app"
			exec /usr/sbin/sshd -D -e -f "$4"' fleet "$dev" "$FLEET_MNT" "$FLEET_BIN" "$dir/sshd_config" \
			>"$dir/sshd.log" 2>&1 &
		FLEET_PID[$host]=$!
		at_cleanup "_fleet_stop_host $host ${FLEET_PID[$host]}"
	done
	for i in $(seq "$n"); do
		_fleet_wait_port "$(fleet_addr "h$i")" ||
			{ echo "Bail out! sshd of h$i did not start:"; sed 's/^/# /' "$FLEET/h$i/sshd.log"; exit 1; }
	done
}

fleet_in() {
	local host=$1
	shift
	nsenter --mount --target "${FLEET_PID[$host]}" -- "$@"
}

# fleet_manifest HOST: the manifest (lib.sh) of HOST's target, read in its namespace.
fleet_manifest() {
	fleet_in "$1" bash -c "$(declare -f manifest); manifest '$FLEET_TARGET'"
}

# fleet_generation HOST: the current generation of HOST's target.
fleet_generation() {
	fleet_in "$1" /usr/local/sbin/btrfs-txn status --json "$FLEET_TARGET" | jq -er .generation
}

fleet_install_collection() {
	rm -rf "$FLEET/collections" "$FLEET/dist" &&
		ansible-galaxy collection build --force --output-path "$FLEET/dist" "$TOP/contrib/ansible" &&
		ansible-galaxy collection install --force -p "$FLEET/collections" "$FLEET"/dist/btrfs_txn-deploy-*.tar.gz
}

# fleet_playbook OUT PLAYBOOK [ARGS...]: run a playbook with the JSON callback of
# callback_plugins/fleet_json.py (ansible-core has none of its own); its
# document goes to OUT, its exit status is returned.
fleet_playbook() {
	local out=$1
	shift
	ANSIBLE_CALLBACK_PLUGINS="$(dirname "${BASH_SOURCE[0]}")/callback_plugins" \
		ANSIBLE_STDOUT_CALLBACK=fleet_json ansible-playbook "$@" >"$out" 2>"$out.err"
}
