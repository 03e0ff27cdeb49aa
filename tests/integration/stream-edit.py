#!/usr/bin/env python3
"""stream-edit.py IN OUT OLD NEW [OLD NEW...]: copy a Btrfs send stream (version 1), replacing the
bytes OLD by NEW (same length) inside commands and recomputing each changed
command's CRC32C, so that btrfs receive accepts the edit. For adversarial tests:
a stream whose paths try to leave the subvolume. The CRC of every command is
checked before editing, so a wrong CRC routine fails loudly instead of yielding a
stream that is refused for the wrong reason."""
import struct
import sys

def crc32c(data, crc=0):
    # Btrfs uses CRC32C seeded with 0 and no final inversion for send streams.
    table = crc32c.table
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc

crc32c.table = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    crc32c.table.append(c)

def main():
    src, dst = sys.argv[1], sys.argv[2]
    pairs = [(sys.argv[i].encode(), sys.argv[i + 1].encode()) for i in range(3, len(sys.argv) - 1, 2)]
    if not pairs or any(len(old) != len(new) for old, new in pairs):
        sys.exit("give OLD NEW pairs of the same length")
    data = open(src, "rb").read()
    if data[:13] != b"btrfs-stream\0":
        sys.exit("not a send stream")
    out = bytearray(data[:17])
    pos, edits = 17, 0
    while pos < len(data):
        length, cmd, crc = struct.unpack_from("<IHI", data, pos)
        body = bytearray(data[pos:pos + 10 + length])
        body[6:10] = b"\0\0\0\0"
        if crc32c(body) != crc:
            sys.exit("CRC mismatch at offset %d: the CRC routine is wrong" % pos)
        for old, new in pairs:
            if old in body:
                body = bytearray(bytes(body).replace(old, new))
                edits += 1
        body[6:10] = struct.pack("<I", crc32c(body))
        out += body
        pos += 10 + length
    if not edits:
        sys.exit("OLD not found in any command")
    open(dst, "wb").write(out)

main()
