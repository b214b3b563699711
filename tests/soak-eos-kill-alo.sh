#!/bin/sh
# soak-eos-kill-alo.sh - the fault harness of soak-eos-kill.sh with
# every stage at least once (no --exactly-once): after each kill -9 and
# restart no record may be missing, and the duplicates are counted.
EOS_MODE=alo
export EOS_MODE
exec "$(dirname "$0")/soak-eos-kill.sh" "$@"
