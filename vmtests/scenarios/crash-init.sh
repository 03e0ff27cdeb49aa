# vmtest: crash states of init on plain directories (nested, empty, with links) and first applies
# timeout: 1800
# boots: 1
#
# 'btrfs-txn init' turns a plain directory into a managed subvolume by copying it
# and exchanging the copy in: a crash before the exchange leaves the plain directory
# (which init must then be able to convert again), after it the subvolume with the
# same content. Each state is replayed and checked on the host (crashcheck.sh).

. /vmtest/guest-logwrites.sh

A=$MNT/srv/site
B=$MNT/srv/empty
C=$MNT/opt/tool

boot_1() {
	vm_need_cmd init apply
	lw_start
	mkdir -p $A/css $A/img $B $C/bin $C/etc
	printf '<h1>hi</h1>\n' > $A/index.html
	printf 'body{}\n' > $A/css/site.css
	head -c 70000 /dev/urandom > $A/img/logo.png
	ln -s index.html $A/home.html
	chmod 0600 $A/css/site.css
	chown 33:33 $A/img/logo.png
	printf '#!/bin/sh\necho tool\n' > $C/bin/tool
	chmod 0755 $C/bin/tool
	printf 'level = 1\n' > $C/etc/tool.conf
	ln -s ../etc/tool.conf $C/bin/conf

	lw_run init-site plain $A btrfs-txn init $A
	lw_run init-empty plain $B btrfs-txn init $B
	lw_run init-tool plain $C btrfs-txn init $C

	cat > /tmp/site.json <<'SPEC'
{
  "version": 1,
  "description": "site v2",
  "ops": [
    {"op": "write", "path": "index.html", "content": "<h1>v2</h1>\n"},
    {"op": "rename", "path": "home.html", "to": "start.html"},
    {"op": "chmod", "path": "css/site.css", "mode": "0644"},
    {"op": "chown", "path": "index.html", "owner": 33, "group": 33},
    {"op": "delete", "path": "img", "recursive": true}
  ]
}
SPEC
	lw_run site-v2 subvol $A btrfs-txn apply --target $A /tmp/site.json
	cat > /tmp/empty.json <<'SPEC'
{
  "version": 1,
  "description": "first content",
  "ops": [
    {"op": "mkdir", "path": "a/b/c", "mode": "0700", "parents": true},
    {"op": "write", "path": "a/b/c/deep.txt", "content": "deep\n", "mode": "0400"}
  ]
}
SPEC
	lw_run empty-first subvol $B btrfs-txn apply --target $B /tmp/empty.json
	cat > /tmp/tool.json <<'SPEC'
{
  "version": 1,
  "description": "tool level 2",
  "preconditions": [ {"path": "etc/tool.conf", "exists": true} ],
  "ops": [ {"op": "write", "path": "etc/tool.conf", "content": "level = 2\n", "mode": "0644"} ]
}
SPEC
	lw_run tool-level-2 subvol $C btrfs-txn apply --target $C /tmp/tool.json
	lw_finish
}
