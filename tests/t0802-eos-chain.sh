#!/bin/sh
# t0802-eos-chain.sh - issue 8's fault harness, small enough for make
# check: the chain krepart -> kdlq -> kagg --emit final -> kjoin, every
# stage --exactly-once, 3000 records, 4 kill -9 of random stages at
# random moments (seed 1, fixed so that a failure replays), each
# restarted; then the output is compared with the golden pipe-mode run.
# The long run (200,000 records, 12 kills, a fresh seed, and the broker
# faults) is scripts/eos-soak.  soak-eos-kill.sh says what is checked.
EOS_MODE=eos
EOS_SEED=${EOS_SEED:-1}
export EOS_MODE EOS_SEED
exec "$(dirname "$0")/soak-eos-kill.sh" "$@"
