#!/usr/bin/python3
"""produce.py BROKERS TOPIC FILE [DELAY_MS] - produce JSON lines
{"key":K,"timestamp":MS,"value":V} to TOPIC with kafka-python, a peer
client: the key as UTF-8 bytes (partitioned by kafka-python's default,
Java's murmur2), the value as compact JSON (null: a tombstone), the record
timestamp set explicitly (kcat 1.7 -P cannot).  With DELAY_MS, sleep that
long after each record (to keep producing while a consumer runs)."""
import json
import sys
import time

from kafka import KafkaProducer

brokers, topic, path = sys.argv[1:4]
delay = int(sys.argv[4]) / 1000.0 if len(sys.argv) > 4 else 0
p = KafkaProducer(bootstrap_servers=brokers, linger_ms=5)
with open(path) as f:
    for line in f:
        if not line.strip():
            continue
        r = json.loads(line)
        v = r.get("value")
        k = r.get("key")
        p.send(topic, key=None if k is None else str(k).encode(),
               value=None if v is None else
               json.dumps(v, separators=(",", ":")).encode(),
               timestamp_ms=r.get("timestamp"))
        if delay:
            p.flush()
            time.sleep(delay)
p.flush()
p.close()
