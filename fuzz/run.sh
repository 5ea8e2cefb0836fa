#!/usr/bin/env bash
# Run every fuzz target for a bounded time, as CI does; fail if any target crashes.
#
#   fuzz/run.sh                       # each target 60 s
#   FUZZ_SECONDS=300 fuzz/run.sh      # each target 300 s
#   fuzz/run.sh api_bodies            # only the targets named
#
# Needs the nightly toolchain (`cargo +nightly`); installs cargo-fuzz if it is missing.
# Each target starts from its seed corpus, fuzz/corpus/<target>/, which it only reads:
# the inputs it finds go to a scratch directory, so a run leaves the repository as it
# was. A crash leaves its input in fuzz/artifacts/<target>/ and the command to replay
# it in the output; keep it as a regression case (see fuzz/README.md).
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
# The sanitizer build shares nothing with the workspace's builds (other flags, another
# target triple): keep it in fuzz/target (git-ignored, about 1.1 GB), where the timings
# in fuzz/README.md were taken, whatever CARGO_TARGET_DIR the caller uses.
export CARGO_TARGET_DIR="$PWD/target"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# One build for all targets (the runs below find it done).
cargo +nightly fuzz build

failed=()
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    seeds=()
    if [ -d "corpus/$t" ]; then
        seeds=("corpus/$t")
    fi
    echo "== fuzz $t for ${seconds}s"
    # -rss_limit_mb: a script call or a parse that holds more than this is a failure
    # too. -timeout: one input running longer than this many seconds is a hang.
    if ! cargo +nightly fuzz run "$t" "$scratch/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash"
