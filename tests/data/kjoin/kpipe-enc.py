#!/usr/bin/python3
"""kpipe-enc.py - write kpipe envelopes (kpipe-format(5)) for kjoin's tests.

Reads JSON lines {"key": STR|null, "timestamp": MS, "value": ANY} on stdin
and writes one msgpack map per line to stdout: "timestamp" (int), "key"
(bin, left out when null or absent) and "value" (the JSON value as
msgpack; null is a nil value, a tombstone).  A small msgpack encoder of
its own, so that the test data does not come from the code under test.
"""
import json
import struct
import sys


def pack(o, out):
    if o is None:
        out.append(b"\xc0")
    elif o is True:
        out.append(b"\xc3")
    elif o is False:
        out.append(b"\xc2")
    elif isinstance(o, int):
        if 0 <= o < 128:
            out.append(bytes([o]))
        elif -32 <= o < 0:
            out.append(struct.pack("b", o))
        elif o >= 0:
            out.append(b"\xcf" + struct.pack(">Q", o))
        else:
            out.append(b"\xd3" + struct.pack(">q", o))
    elif isinstance(o, float):
        out.append(b"\xcb" + struct.pack(">d", o))
    elif isinstance(o, str):
        b = o.encode()
        if len(b) < 32:
            out.append(bytes([0xA0 | len(b)]) + b)
        else:
            out.append(b"\xdb" + struct.pack(">I", len(b)) + b)
    elif isinstance(o, bytes):
        out.append(b"\xc6" + struct.pack(">I", len(o)) + o)
    elif isinstance(o, list):
        out.append(b"\xdd" + struct.pack(">I", len(o)))
        for x in o:
            pack(x, out)
    elif isinstance(o, dict):
        out.append(b"\xdf" + struct.pack(">I", len(o)))
        for k, v in o.items():
            pack(k, out)
            pack(v, out)
    else:
        raise TypeError(type(o))


for line in sys.stdin:
    if not line.strip():
        continue
    r = json.loads(line)
    env = {}
    if r.get("timestamp") is not None:
        env["timestamp"] = r["timestamp"]
    if r.get("key") is not None:
        env["key"] = str(r["key"]).encode()
    env["value"] = r.get("value")
    out = []
    pack(env, out)
    sys.stdout.buffer.write(b"".join(out))
