#!/usr/bin/env bash
# TLS load test: otagit's /update 304 over TLS against a bare Go TLS
# server with the same TLS settings, on 127.0.0.1, every request on a new
# connection (Connection: close: a full handshake each, as ESP devices
# poll), for an ECDSA P-256 and an RSA-2048 certificate. Rounds alternate
# between the servers; the ratio otagit/bare of the medians is what to
# compare between runs (absolute numbers drift on shared machines).
#
#   scripts/loadtest-tls.sh [DEVICES] [DURATION]      e.g. scripts/loadtest-tls.sh 10000 10s
#
# Needs wrk and openssl (Debian: apt-get install wrk openssl; installed
# when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${1:-10000}
DURATION=${2:-10s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}

. scripts/lib.sh
need_tools wrk openssl

go build -o "$work/otagit" ./cmd/otagit
go build -o "$work/bare" ./internal/loadtest/bare
go run ./internal/loadtest/genrepo -devices "$DEVICES" -out "$work/fleet" >/dev/null

# The certificates, as the README's TLS section makes them.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/ecdsa.key" -out "$work/ecdsa.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/rsa.key" -out "$work/rsa.pem" 2>/dev/null

declare -A port_bare=([ecdsa]=18441 [rsa]=18442) port_otagit=([ecdsa]=18443 [rsa]=18444)
for k in ecdsa rsa; do
	"$work/bare" -listen "127.0.0.1:${port_bare[$k]}" -tls-cert "$work/$k.pem" -tls-key "$work/$k.key" >/dev/null 2>&1 &
	pids+=($!)
	mkdir -p "$work/data-$k"
	"$work/otagit" serve --repo "$work/fleet" --data "$work/data-$k" --poll 0 --listen 127.0.0.1:0 \
		--tls-listen "127.0.0.1:${port_otagit[$k]}" --tls-cert "$work/$k.pem" --tls-key "$work/$k.key" \
		>"$work/$k.out" 2>"$work/$k.log" &
	pids+=($!)
	wait_up "https://127.0.0.1:${port_bare[$k]}/" "$work/$k.pem"
	wait_up "https://127.0.0.1:${port_otagit[$k]}/healthz" "$work/$k.pem"
done
echo "devices: $DEVICES, wrk: $THREADS threads, $CONNS connections, $DURATION x $ROUNDS rounds, new TLS connection per request" >&2

declare -A results
for round in $(seq 1 "$ROUNDS"); do
	for k in ecdsa rsa; do
		results[bare-$k]+="$(run_wrk "bare Go TLS ($k)" "https://127.0.0.1:${port_bare[$k]}/update") "
		results[otagit-$k]+="$(run_wrk "otagit TLS ($k)" "https://127.0.0.1:${port_otagit[$k]}/update") "
	done
done
for k in ecdsa rsa; do
	b=$(median "${results[bare-$k]}")
	o=$(median "${results[otagit-$k]}")
	printf '%s: medians bare %s, otagit %s req/s; ratio otagit/bare %.3f\n' "$k" "$b" "$o" "$(echo "$o / $b" | bc -l)" >&2
done
