#!/usr/bin/env bash
# Text normalisation benchmark: the old whole-string Foundation calls against Deja's piece-by-piece
# normaliser, for 64 KiB to 2 MiB of expanding and composing text, as ratios to a baseline measured in
# the same run. Not a test: it reports numbers, it asserts nothing. The old path takes seconds at 2 MiB;
# OLD_MAX_BYTES=262144 scripts/bench-text.sh skips it above 256 KiB.
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
swift run -c release DejaTextBench
