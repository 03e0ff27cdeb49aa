#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# concurrent.py: writers that race btrfs-txn, and the check of the promise they test.
#
#   concurrent.py write KIND TARGET ACKS   write into TARGET until SIGTERM; after every write
#                                          whose system call returned, append "PATH\tVALUE" to ACKS
#   concurrent.py check KIND TARGET STATE ACKS REPORTS
#                                          every acknowledged write is in the live tree, or in a
#                                          generation that is pinned and that an apply/run/rollback
#                                          reported (REPORTS: their --json documents, one per line)
#
# Kinds: append (open, append a line, close), held (one descriptor held open across
# every switch), create (new files), rename (one file renamed to a new name), mmap (a
# shared writable mapping), nested (a nested subvolume made, then deleted again). Writes come in bursts ~0.5 ms apart with pauses between,
# so that some transactions commit. Exit status of check: 0 when the promise held, 1 with the
# first violations on stdout otherwise.
import datetime, json, mmap, os, random, signal, subprocess, sys, time

stop = False


def on_term(signo, frame):
    global stop
    stop = True


def ack(out, path, value):
    out.write(f"{path}\t{value}\t{time.time():.6f}\n")
    out.flush()


def write(kind, target, acks):
    signal.signal(signal.SIGTERM, on_term)
    out = open(acks, "a")
    n = 0
    if kind == "held":
        fd = os.open(os.path.join(target, "held"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if kind == "mmap":
        path = os.path.join(target, "mm")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(fd, 4096)
        mapping = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    if kind == "rename":
        os.makedirs(os.path.join(target, "r"), exist_ok=True)
    if kind == "create":
        os.makedirs(os.path.join(target, "new"), exist_ok=True)
    while not stop:
        n += 1
        try:
            if kind == "append":
                fd = os.open(os.path.join(target, "wlog"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(fd, f"{n}\n".encode())
                os.close(fd)
                ack(out, "wlog", n)
            elif kind == "held":
                os.write(fd, f"{n}\n".encode())
                ack(out, "held", n)
            elif kind == "create":
                name = f"new/{n}"
                fd = os.open(os.path.join(target, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, f"{n}\n".encode())
                os.close(fd)
                ack(out, name, n)
            elif kind == "rename":
                d = os.path.join(target, "r")
                names = [x for x in os.listdir(d) if x.startswith("f.")]
                if not names:
                    open(os.path.join(d, f"f.{n}"), "w").close()
                else:
                    os.rename(os.path.join(d, names[0]), os.path.join(d, f"f.{n}"))
                ack(out, f"r/f.{n}", n)
            elif kind == "mmap":
                mapping[0:16] = f"{n:015d}\n".encode()
                ack(out, "mm", n)
            elif kind == "nested":
                # Any user who can write into T can make a subvolume there.
                name = f"sub-{n}"
                path = os.path.join(target, name)
                subprocess.run(["btrfs", "subvolume", "create", path], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                ack(out, name, n)
                time.sleep(random.uniform(0, 0.05))
                subprocess.run(["btrfs", "subvolume", "delete", path], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                ack(out, name, -n)
                time.sleep(random.uniform(0.02, 0.3))  # quiet moments: some commits
        except (OSError, subprocess.CalledProcessError):
            # The target's directory was swapped under a path lookup, or a file is
            # gone after a switch: no acknowledgement, try again.
            pass
        # Bursts of writes ~0.5 ms apart, then a pause: some transactions meet a
        # quiet target and commit, some writes land just before a switch.
        time.sleep(0.0005 if random.random() > 0.02 else random.uniform(0.005, 0.08))
    out.close()


def holds(root, path, value, kind):
    full = os.path.join(root, path)
    try:
        if kind in ("append", "held"):
            with open(full) as f:
                return str(value) in set(f.read().split())
        if kind == "nested":
            return os.lstat(full).st_ino == 256  # a subvolume, not an empty placeholder
        if kind == "mmap":
            with open(full, "rb") as f:
                text = f.read(16).strip(b"\0\n ")
            return bool(text) and int(text) >= value
        # create, rename: the acknowledged name exists, or (rename) a later one
        if os.path.exists(full):
            return True
        if kind == "rename":
            d = os.path.join(root, "r")
            return any(int(x[2:]) >= value for x in os.listdir(d) if x.startswith("f."))
        return False
    except (OSError, ValueError):
        return False


def check(kind, target, state, acks, reports):
    """ACKS holds the writer's acknowledgements and, after each transaction, a line
    "#end COMMAND EXIT" from the test; REPORTS the transactions' --json documents in
    the same order. A committed rollback replaces the tree on purpose: writes before
    its 'concurrent_since' (plus 10 ms: a write just before it can be acknowledged
    just after) are no longer expected in the live tree."""
    docs = [json.loads(l) for l in open(reports) if l.strip()]
    reported = {}  # generation -> set of paths
    expected = []
    n_acks = 0
    for line in open(acks):
        if not line.endswith("\n"):
            continue
        if line.startswith("#end "):
            doc = docs.pop(0)
            if doc.get("result") == "committed" and "concurrent_writes" not in doc:
                print(f"violation: a committed {doc.get('command')} has no 'concurrent_writes'")
                return 1
            if doc.get("concurrent_writes"):
                reported.setdefault(doc["pinned_generation"], set()).update(doc["concurrent_writes"])
            if doc.get("command") == "rollback" and doc.get("result") == "committed":
                since = datetime.datetime.fromisoformat(doc["concurrent_since"].replace("Z", "+00:00"))
                cut = since.timestamp() + 0.010
                expected = [e for e in expected if e[2] >= cut]
            continue
        path, value, stamp = line.rstrip("\n").split("\t")
        n_acks += 1
        if int(value) < 0:  # nested: the writer deleted its own subvolume again
            expected = [e for e in expected if e[0] != path]
            continue
        expected.append((path, int(value), float(stamp)))
    pinned = {g for g in reported if os.path.exists(os.path.join(state, f"pin-{g}"))}
    bad = []
    for path, value, _ in expected:
        if holds(target, path, value, kind):
            continue
        if any(holds(os.path.join(state, f"gen-{g}"), path, value, kind) for g in pinned):
            continue
        bad.append(f"{path}={value}")
    print(f"# {kind}: {n_acks} acknowledged writes, {len(expected)} expected to stay, "
          f"{len(bad)} lost without a report, {len(reported)} reports, pinned {sorted(pinned)}")
    if bad:
        print("violation: lost without a report: " + ", ".join(bad[:20]))
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(*sys.argv[2:5])
    else:
        sys.exit(check(*sys.argv[2:7]))
