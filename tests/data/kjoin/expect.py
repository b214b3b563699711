#!/usr/bin/python3
"""expect.py - an independent model of kjoin's joins, for its tests.

  expect.py gen SEED NSTREAM NTABLE NKEYS DIR
      write DIR/stream.json and DIR/table.json: JSON lines
      {"key":K,"timestamp":MS,"value":V}, timestamps increasing in each
      file, table values {"id":K,"name":...,"v":N} with some tombstones
      (value null), stream values {"id":K,"n":N}.
  expect.py genw SEED N NKEYS DIR [OOO]
      write DIR/left.json (views) and DIR/right.json (clicks), N records
      each, a fraction OOO (default 0.1) of them up to 5 s older than the
      record before.
  expect.py table STREAM TABLE [--left] [--prefix P]
      the stream-table join, the stream in file order: before each stream
      record, the table records (sorted by timestamp, file order on ties)
      whose timestamp is not above its timestamp; a stream record gets the fields of the key's latest table value (the
      stream's fields win a clash; --prefix renames the table's).
  expect.py window LEFT RIGHT WITHIN_MS [--left|--outer] [--grace MS]
      the stream-stream join as kjoin(1) describes it, LEFT in file order
      and RIGHT merged in by timestamp as in "table", at the end of the
      input every window closed.

Output: one JSON line {"key":..,"timestamp":..,"value":..} per record, in
the order kjoin writes them in pipe mode.
"""
import json
import random
import sys


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def out(key, ts, value):
    print(json.dumps({"key": key, "timestamp": ts, "value": value},
                     separators=(",", ":")))


def merge(left, right, prefix):
    m = dict(left)
    for k, v in right.items():
        name = prefix + k if prefix else k
        if name not in m:
            m[name] = v
    return m


def gen(seed, ns, nt, nk, d):
    rnd = random.Random(seed)
    keys = ["h%d" % i for i in range(nk)]
    t = 1000
    with open(d + "/table.json", "w") as f:
        for i in range(nt):
            t += rnd.randint(0, 40)
            k = rnd.choice(keys)
            v = None if rnd.random() < 0.1 else {
                "id": k, "name": "name-%d" % i, "v": i}
            f.write(json.dumps({"key": k, "timestamp": t, "value": v}) + "\n")
    t = 1000
    with open(d + "/stream.json", "w") as f:
        for i in range(ns):
            t += rnd.randint(0, 10)
            k = rnd.choice(keys)
            f.write(json.dumps({"key": k, "timestamp": t,
                                "value": {"id": k, "n": i}}) + "\n")


def genw(seed, n, nk, d, ooo=0.1):
    rnd = random.Random(seed)
    keys = ["u%d" % i for i in range(nk)]
    for name, field in (("left", "view"), ("right", "click")):
        t = 0
        with open("%s/%s.json" % (d, name), "w") as f:
            for i in range(n):
                t += rnd.randint(0, 3000)
                # now and then a record from a little in the past
                ts = t - rnd.randint(0, 5000) if rnd.random() < ooo else t
                k = rnd.choice(keys)
                f.write(json.dumps({"key": k, "timestamp": ts,
                                    "value": {field: i, "user": k}}) + "\n")


def table(args):
    stream, tab = load(args[0]), load(args[1])
    left = "--left" in args
    prefix = args[args.index("--prefix") + 1] if "--prefix" in args else ""
    # the stream as it comes; before each stream record, the table records
    # (sorted by timestamp, file order on ties) not above its timestamp
    ts_ = sorted(enumerate(tab), key=lambda e: (e[1]["timestamp"], e[0]))
    ev, j = [], 0
    for r in stream:
        while j < len(ts_) and ts_[j][1]["timestamp"] <= r["timestamp"]:
            ev.append((ts_[j][1]["timestamp"], 0, 0, ts_[j][1]))
            j += 1
        ev.append((r["timestamp"], 1, 0, r))
    t = {}
    for ts, side, _, r in ev:
        if side == 0:
            if r["value"] is None:
                t.pop(r["key"], None)
            else:
                t[r["key"]] = r["value"]
        elif r["key"] in t:
            out(r["key"], ts, merge(r["value"], t[r["key"]], prefix))
        elif left:
            out(r["key"], ts, r["value"])


def window(args):
    L, R, within = load(args[0]), load(args[1]), int(args[2])
    mode = "--left" if "--left" in args else "--outer" if "--outer" in args \
        else ""
    grace = int(args[args.index("--grace") + 1]) if "--grace" in args else 0
    prefix = args[args.index("--prefix") + 1] if "--prefix" in args else ""
    # arrival order: the left (standard input) as it comes; before each
    # left record, the right records (a file, read whole and sorted by
    # timestamp) whose timestamp is not above it
    rs = sorted(enumerate(R), key=lambda e: (e[1]["timestamp"], e[0]))
    ev, j = [], 0
    for r in L:
        while j < len(rs) and rs[j][1]["timestamp"] <= r["timestamp"]:
            ev.append((rs[j][1]["timestamp"], 1, rs[j][1]))
            j += 1
        ev.append((r["timestamp"], 0, r))
    ev += [(r["timestamp"], 1, r) for _, r in rs[j:]]
    buf = []        # [ts, seq, side, matched, rec]
    st, seq = None, 0

    def close(limit):
        buf.sort(key=lambda b: (b[0], b[1]))
        while buf and (limit is None or buf[0][0] < limit):
            ts, _, side, matched, r = buf.pop(0)
            if not matched and side == 0 and mode in ("--left", "--outer"):
                out(r["key"], ts, r["value"])
            if not matched and side == 1 and mode == "--outer":
                out(r["key"], ts, merge({}, r["value"], prefix))

    for ts, side, r in ev:
        if st is not None and ts < st - grace:
            continue                            # late
        st = ts if st is None else max(st, ts)
        close(st - within - grace)
        matched = False
        for b in sorted(buf, key=lambda b: b[1]):
            if b[2] != side and b[4]["key"] == r["key"] and \
                    abs(ts - b[0]) <= within:
                l, rr = (r, b[4]) if side == 0 else (b[4], r)
                out(l["key"], max(ts, b[0]),
                    merge(l["value"], rr["value"], prefix))
                b[3] = True
                matched = True
        buf.append([ts, seq, side, matched, r])
        seq += 1
    close(None)


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
            int(sys.argv[5]), sys.argv[6])
    elif sys.argv[1] == "genw":
        genw(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
             sys.argv[5], float(sys.argv[6]) if len(sys.argv) > 6 else 0.1)
    elif sys.argv[1] == "table":
        table(sys.argv[2:])
    elif sys.argv[1] == "window":
        window(sys.argv[2:])
    else:
        sys.exit("usage: expect.py gen|table|window ...")
