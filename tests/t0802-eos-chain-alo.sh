#!/bin/sh
# t0802-eos-chain-alo.sh - t0802-eos-chain.sh with every stage at least
# once: no record missing after 4 kills and restarts (seed 2), duplicates
# counted.
EOS_MODE=alo
EOS_SEED=${EOS_SEED:-2}
export EOS_MODE EOS_SEED
exec "$(dirname "$0")/soak-eos-kill.sh" "$@"
