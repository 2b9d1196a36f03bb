#!/usr/bin/env bash
# Load test of the real otagit binary against a bare net/http baseline, on
# 127.0.0.1, with new connections per request as ESP devices make them.
#
#   scripts/loadtest.sh [DEVICES] [DURATION]      e.g. scripts/loadtest.sh 100000 20s
#
# Needs wrk (Debian: apt-get install wrk; the script installs it when run
# as root). Prints, for each server: requests/s, latency, CPU time per
# request, and for otagit the config load time and resident memory. The
# ratios otagit/bare are what to compare between runs (absolute numbers
# drift on shared machines): the median over rounds of each round's
# throughput ratio, and of its CPU ratio (bare's CPU time per request over
# otagit's), the figure that a loaded machine disturbs least.
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
	wait_saved "${port_of[$mode]}" || true
done
echo "warmed up: $(awk '/requests in/ {printf "%s ", $1}' "$work"/warm-*.txt)requests (each device once per server)" >&2

# Every round measures bare and each otagit server back to back, so that
# a round's ratios compare runs under the same load; the figures are
# medians of the rounds' ratios. Besides requests/s, each run measures the
# server's CPU time per request (run_wrk), which depends far less on what
# else runs on the machine: wrk shares its cores with the server.
declare -A ratio cpu_ratio cpu_of
pid_of[bare]=${pids[0]}
# The order within a round rotates from round to round: the second of two
# equal servers measured back to back was measured 5-10% slower or faster
# than the first on the shared machine, so no server keeps one place.
order=(bare "${servers[@]}")
for round in $(seq 1 "$ROUNDS"); do
	for conn in close keepalive; do
		export KEEPALIVE=$([ $conn = keepalive ] && echo 1 || echo 0)
		declare -A rps_of=() us_of=()
		for k in "${!order[@]}"; do
			mode=${order[$(((k + round - 1) % ${#order[@]}))]}
			url="http://127.0.0.1:${port_of[$mode]:-18081}/update" name="otagit $mode"
			[ "$mode" != bare ] || name="bare net/http"
			scraper=
			if [ "$mode" = on ]; then
				scrape &
				scraper=$!
			fi
			read -r rps us < <(run_wrk "[$round $conn] $name" "$url" "" "${pid_of[$mode]}")
			if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; fi
			rps_of[$mode]=$rps us_of[$mode]=$us
			cpu_of[$conn:$mode]+="$us "
		done
		for mode in "${servers[@]}"; do
			ratio[$conn:$mode]+="$(echo "${rps_of[$mode]} / ${rps_of[bare]}" | bc -l) "
			cpu_ratio[$conn:$mode]+="$(echo "${us_of[bare]} / ${us_of[$mode]}" | bc -l) "
		done
		# What /metrics and check-ins cost, against the servers without
		# them in the same round.
		ratio[$conn:metrics]+="$(echo "${rps_of[on]} / ${rps_of[nometrics]}" | bc -l) "
		ratio[$conn:checkins]+="$(echo "${rps_of[on]} / ${rps_of[off]}" | bc -l) "
		cpu_ratio[$conn:metrics]+="$(echo "${us_of[nometrics]} / ${us_of[on]}" | bc -l) "
		cpu_ratio[$conn:checkins]+="$(echo "${us_of[off]} / ${us_of[on]}" | bc -l) "
	done
done
for mode in "${servers[@]}"; do
	p=${pid_of[$mode]}
	echo "otagit $mode: RSS after the load test $(rss_mb "$p") MB (peak $(hwm_mb "$p") MB)" >&2
done
echo "recording: $(curl -s "http://127.0.0.1:${port_of[on]}/api/status" | tr -d '\n ' | grep -o '"recording":{[^}]*}')" >&2
echo "scraped: $(curl -s "http://127.0.0.1:$((port_of[on] + 100))/metrics" | grep -c '^otagit_') otagit series" >&2
echo "load average after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Ratios are otagit/bare (1 = as fast as bare): throughput, and bare's CPU
# per request over otagit's.
for conn in close keepalive; do
	printf '%s median us CPU/req: bare %.2f, otagit %.2f (as shipped), %.2f (--metrics=false), %.2f (--checkins=false)\n' "$conn" \
		"$(median "${cpu_of[$conn:bare]}")" "$(median "${cpu_of[$conn:on]}")" "$(median "${cpu_of[$conn:nometrics]}")" "$(median "${cpu_of[$conn:off]}")" >&2
	for kind in ratio cpu_ratio; do
		declare -n r=$kind
		printf '%s %s otagit/bare: %.3f (as shipped), %.3f (--metrics=false), %.3f (--checkins=false); /metrics (scraped every %ss) costs %.1f%%, check-in recording %.1f%%\n' \
			"$conn" "$([ $kind = ratio ] && echo 'throughput ratio' || echo 'CPU ratio')" \
			"$(median "${r[$conn:on]}")" "$(median "${r[$conn:nometrics]}")" "$(median "${r[$conn:off]}")" "$SCRAPE" \
			"$(echo "(1 - $(median "${r[$conn:metrics]}")) * 100" | bc -l)" "$(echo "(1 - $(median "${r[$conn:checkins]}")) * 100" | bc -l)" >&2
		unset -n r
	done
done
