#!/usr/bin/env bash
# Intake throughput of two instances against one, on PostgreSQL and Redis
# (README, "Running several instances"). Needs the release server
# (`cargo build --release`), the shared load generator (LOADGEN, built from
# shared/perf/loadgen with `cargo build --release`), psql, and PostgreSQL and
# Redis on 127.0.0.1. Creates a database of its own and drops it after.
#   LOADGEN=path/to/loadgen DUR=10 bash tests/perf/two_instances.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/order_fellow-cli}
LG=${LOADGEN:?set LOADGEN to the shared perf load generator binary}
DB=perf_$(date +%s)
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"
W=$(mktemp -d)
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB DB_MAX_CONNECTIONS=10 REDIS_URL=redis://127.0.0.1:6379
export LOCO_ENV=development LOG_LEVEL=warn ORDER_RATE_LIMIT_PER_SEC=0 OUTBOX_DIR=$W/outbox
$BIN db migrate >/dev/null
PORT=5171 $BIN start >$W/a.log 2>&1 & A=$!
trap 'kill $A ${B:-} 2>/dev/null || true; rm -rf "$W"' EXIT
for i in $(seq 100); do curl -sf localhost:5171/readyz >/dev/null && break; sleep 0.2; done
API=http://localhost:5171/api/v1
EMAIL=perf$RANDOM@example.com
curl -sf -X POST $API/auth/register/ -H 'Content-Type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\",\"full_name\":\"Ada\",\"company_name\":\"Perf\"}" >/dev/null
sleep 2
CODE=$(grep -ho 'code is [0-9]\{6\}' $W/outbox/*.eml | head -1 | grep -o '[0-9]\{6\}')
curl -sf -X POST $API/auth/verify-email/ -H 'Content-Type: application/json' -d "{\"email\":\"$EMAIL\",\"otp\":\"$CODE\"}" >/dev/null
TOKEN=$(curl -sf -X POST $API/auth/login/ -H 'Content-Type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}" | python3 -c 'import sys,json;print(json.load(sys.stdin)["token"])')
KYC=$(curl -sf -X POST $API/kyc/ -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"business_name":"Perf Ltd","registration_number":"RC-1","country":"NG","business_address":"1 Road, Lagos"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
$BIN task kyc_approve ids:$KYC >/dev/null
KEY=$(curl -sf $API/webhook/secret/ -H "Authorization: Bearer $TOKEN" | python3 -c 'import sys,json;print(json.load(sys.stdin)["secret_key"])')
run() { $LG --url "http://127.0.0.1:$1/api/v1/webhooks/orders/" --api-key "$KEY" --concurrency $2 --duration ${DUR:-10} --warmup 2 --run-id "$3" 2>/dev/null | tail -1; }
summ() { python3 -c '
import json,sys
ds=[json.loads(l) for l in sys.argv[2:]]
print(sys.argv[1], "orders/s %.0f" % sum(d["rps"] for d in ds), " p50", [d["p50_ms"] for d in ds], " p99", [d["p99_ms"] for d in ds], " errors", [d["errors"] for d in ds], [d["status_counts"] for d in ds])
' "$@"; }
# one instance, two generators of 32
X=$(mktemp); Y=$(mktemp)
run 5171 32 one-a >$X & P1=$!; run 5171 32 one-b >$Y & P2=$!; wait $P1 $P2
summ "one instance  (2x32):" "$(cat $X)" "$(cat $Y)"
PORT=5172 $BIN start >$W/b.log 2>&1 & B=$!
for i in $(seq 100); do curl -sf localhost:5172/readyz >/dev/null && break; sleep 0.2; done
run 5171 32 two-a >$X & P1=$!; run 5172 32 two-b >$Y & P2=$!; wait $P1 $P2
summ "two instances (32 each):" "$(cat $X)" "$(cat $Y)"
run 5171 32 one2-a >$X & P1=$!; run 5171 32 one2-b >$Y & P2=$!; wait $P1 $P2
summ "one instance again (2x32, B idle):" "$(cat $X)" "$(cat $Y)"
psql -h 127.0.0.1 -U postgres -d $DB -Atc "select count(*) from orders"
kill $A $B; wait 2>/dev/null || true
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE $DB WITH (FORCE)"
