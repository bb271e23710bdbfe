#!/bin/sh
# Run the TCP end-to-end tests N times (default 200), niced, outside `make test`; prints one
# line per failing iteration and the failure count at the end. Logs of failures are kept in
# $OUT (default .fuzz-failures/tcp-loop).
N=${1:-200}
OUT=${OUT:-.fuzz-failures/tcp-loop}
mkdir -p "$OUT"
fail=0
i=1
while [ "$i" -le "$N" ]; do
    if ! nice -n 10 .venv/bin/pytest -q -p no:cacheprovider -x tests/e2e -k tcp \
            > "$OUT/run.log" 2>&1; then
        fail=$((fail + 1))
        cp "$OUT/run.log" "$OUT/fail-$i.log"
        echo "iteration $i failed: $(grep -m1 -E 'FAILED|Error' "$OUT/fail-$i.log")"
    fi
    echo "$i $fail" > "$OUT/progress"
    i=$((i + 1))
done
echo "tcp end-to-end: $N iterations, $fail failed"
