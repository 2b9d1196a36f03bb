#!/usr/bin/env bash
# Load test of the real otagit binary against a bare net/http baseline, on
# 127.0.0.1, with new connections per request as ESP devices make them.
#
#   scripts/loadtest.sh [DEVICES] [DURATION]      e.g. scripts/loadtest.sh 100000 20s
#
# Needs wrk (Debian: apt-get install wrk; the script installs it when run
# as root). Prints, for each server: requests/s, latency, and for otagit
# the config load time and resident memory. The ratio otagit/bare is what
# to compare between runs: absolute numbers drift on shared machines.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${1:-100000}
DURATION=${2:-20s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}

. scripts/lib.sh
need_tools wrk

go build -o "$work/otagit" ./cmd/otagit
go build -o "$work/bare" ./internal/loadtest/bare
go run ./internal/loadtest/genrepo -devices "$DEVICES" -out "$work/fleet" >/dev/null

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

start_otagit() { # name port extra-flags... (sets $pid)
	local name=$1 port=$2
	shift 2
	mkdir -p "$work/data-$name"
	"$work/otagit" serve --repo "$work/fleet" --listen "127.0.0.1:$port" --data "$work/data-$name" \
		--poll 0 --admin-listen "127.0.0.1:$((port + 100))" "$@" >"$work/$name.out" 2>"$work/$name.log" &
	pid=$!
	pids+=("$pid")
}

ROUNDS=${ROUNDS:-3}
SCRAPE=${SCRAPE:-1}
echo "devices: $DEVICES, wrk: $THREADS threads, $CONNS connections, $DURATION x $ROUNDS rounds, Connection: close and keep-alive" >&2

"$work/bare" -listen 127.0.0.1:18081 >/dev/null 2>&1 &
pids+=($!)
wait_up http://127.0.0.1:18081/

# The otagit servers run side by side, so that rounds can alternate:
#   on         as shipped (check-ins on, /metrics on and scraped every
#              $SCRAPE s while it is measured)
#   nometrics  --metrics=false: what counting for /metrics costs
#   off        --checkins=false: what recording check-ins costs
declare -A pid_of port_of=([on]=18083 [nometrics]=18084 [off]=18082) flags_of=([on]="" [nometrics]="--metrics=false" [off]="--checkins=false")
servers=(on nometrics off)
for mode in "${servers[@]}"; do
	start=$(date +%s.%N)
	# shellcheck disable=SC2086 # flags_of holds zero or one flag
	start_otagit "$mode" "${port_of[$mode]}" ${flags_of[$mode]}
	pid_of[$mode]=$pid
	wait_up "http://127.0.0.1:${port_of[$mode]}/healthz" || { tail -3 "$work/$mode.log" >&2; exit 1; }
	up=$(echo "$(date +%s.%N) - $start" | bc)
	synced=$(grep -o 'msg=synced.*' "$work/$mode.log" | tail -1)
	echo "otagit $mode: $DEVICES devices; first answer after ${up}s; $(grep -o 'fetch=[^ ]*' <<<"$synced") $(grep -o 'load=[^ ]*' <<<"$synced"); RSS $(rss_mb "$pid") MB (peak $(hwm_mb "$pid") MB)" >&2
done

# scrape scrapes otagit's /metrics every $SCRAPE seconds until killed.
scrape() {
	while curl -fs -o /dev/null "http://127.0.0.1:$((port_of[on] + 100))/metrics"; do sleep "$SCRAPE"; done
}

# Every device polls once before the measurement: a fleet's server has
# seen its devices before, and a device's first check-in (a history row
# and a summary to save) costs more than the polls after it.
warm_pids=()
for mode in "${servers[@]}"; do
	KEEPALIVE=1 DEVICES=$DEVICES THREADS=$THREADS wrk -t"$THREADS" -c"$CONNS" -d$((DEVICES / 3000 + 3))s -s scripts/warm.lua \
		"http://127.0.0.1:${port_of[$mode]}/update" >"$work/warm-$mode.txt" 2>&1 &
	warm_pids+=($!)
done
wait "${warm_pids[@]}"
for mode in on nometrics; do # and let the check-ins of the warm-up be saved
	for _ in $(seq 1 600); do
		curl -s "http://127.0.0.1:${port_of[$mode]}/api/status" | tr -d '\n ' | grep -q '"queued":0' && break
		sleep 0.1
	done
done
echo "warmed up: $(awk '/requests in/ {printf "%s ", $1}' "$work"/warm-*.txt)requests (each device once per server)" >&2

declare -A results
for round in $(seq 1 "$ROUNDS"); do
	for conn in close keepalive; do
		export KEEPALIVE=$([ $conn = keepalive ] && echo 1 || echo 0)
		results[$conn:bare]+="$(run_wrk "[$round $conn] bare net/http" http://127.0.0.1:18081/update) "
		for mode in "${servers[@]}"; do
			scraper=
			if [ "$mode" = on ]; then
				scrape &
				scraper=$!
			fi
			results[$conn:$mode]+="$(run_wrk "[$round $conn] otagit $mode" "http://127.0.0.1:${port_of[$mode]}/update") "
			if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; fi
		done
	done
done
for mode in "${servers[@]}"; do
	p=${pid_of[$mode]}
	echo "otagit $mode: RSS after the load test $(rss_mb "$p") MB (peak $(hwm_mb "$p") MB)" >&2
done
echo "recording: $(curl -s "http://127.0.0.1:${port_of[on]}/api/status" | tr -d '\n ' | grep -o '"recording":{[^}]*}')" >&2
echo "scraped: $(curl -s "http://127.0.0.1:$((port_of[on] + 100))/metrics" | grep -c '^otagit_') otagit series" >&2
for conn in close keepalive; do
	bare=$(median "${results[$conn:bare]}")
	on=$(median "${results[$conn:on]}")
	nom=$(median "${results[$conn:nometrics]}")
	off=$(median "${results[$conn:off]}")
	printf '%s medians: bare %s, otagit %s (as shipped), %s (--metrics=false), %s (--checkins=false) req/s\n' "$conn" "$bare" "$on" "$nom" "$off" >&2
	printf '%s ratio otagit/bare: %.3f (as shipped), %.3f (--metrics=false), %.3f (--checkins=false)\n' "$conn" \
		"$(echo "$on / $bare" | bc -l)" "$(echo "$nom / $bare" | bc -l)" "$(echo "$off / $bare" | bc -l)" >&2
	printf '%s: /metrics (scraped every %ss) costs %.1f%%, check-in recording %.1f%% of throughput\n' "$conn" "$SCRAPE" \
		"$(echo "(1 - $on / $nom) * 100" | bc -l)" "$(echo "(1 - $on / $off) * 100" | bc -l)" >&2
done
