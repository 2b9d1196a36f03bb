#!/usr/bin/env bash
# A million devices against the real otagit binary, on 127.0.0.1: generates
# a fleet of DEVICES whitelisted devices in FILES whitelists (a temp dir),
# starts the server, and reports the config load time, resident memory
# after load and its peak (/proc/PID/status VmRSS, VmHWM), the /update 304
# with DEVICES against a 100,000-device server in alternating wrk rounds,
# and the time of `otagit plan` for a change that touches 1,000 devices.
#
#   scripts/million.sh [DEVICES] [FILES]        e.g. scripts/million.sh 1000000 100
#
# Bounded: every wait has a limit (LIMIT seconds, default 600), wrk runs
# ROUNDS x DURATION; everything it starts is stopped and removed at exit.
# Needs wrk for the 304 comparison (skipped without it). Ratios are what
# to compare between runs: absolute numbers drift on shared machines.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${1:-1000000}
FILES=${2:-100}
LIMIT=${LIMIT:-600}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}

. scripts/lib.sh

go build -o "$work/otagit" ./cmd/otagit
go run ./internal/loadtest/genrepo -devices "$DEVICES" -files "$FILES" -out "$work/fleet" >/dev/null
go run ./internal/loadtest/genrepo -devices 100000 -out "$work/fleet100k" >/dev/null
echo "fleet: $DEVICES devices in $FILES files ($(du -sh "$work/fleet/devices" | cut -f1))" >&2

mb() { awk -v k="$2" '$1 == k":" {printf "%.0f", $2/1024}' "/proc/$1/status"; }

start_otagit() { # name repo port (sets $pid)
	mkdir -p "$work/data-$1"
	"$work/otagit" serve --repo "$2" --listen "127.0.0.1:$3" --data "$work/data-$1" \
		--poll 0 --fetch-timeout "${LIMIT}s" --checkins=false >/dev/null 2>"$work/$1.log" &
	pid=$!
	pids+=("$pid")
}

wait_synced() { # name
	local deadline=$((SECONDS + LIMIT))
	until grep -q 'msg=synced\|commit rejected\|sync failed' "$work/$1.log"; do
		if ((SECONDS > deadline)); then
			echo "$1: no sync within ${LIMIT}s" >&2
			exit 1
		fi
		sleep 0.2
	done
	if ! grep -q 'msg=synced' "$work/$1.log"; then
		grep -m3 'ERROR' "$work/$1.log" >&2
		exit 1
	fi
}

start_otagit big "$work/fleet" 18291
big=$pid
wait_synced big
synced=$(grep -o 'msg=synced.*' "$work/big.log" | tail -1)
# The store returns the load's garbage to the OS just after logging the
# sync; give it a moment before reading RSS.
sleep 2
echo "otagit, $DEVICES devices: $(grep -o 'devices=[^ ]*' <<<"$synced") $(grep -o 'fetch=[^ ]*' <<<"$synced") $(grep -o 'load=[^ ]*' <<<"$synced"); RSS after load $(mb "$big" VmRSS) MB, peak $(mb "$big" VmHWM) MB" >&2

if command -v wrk >/dev/null; then
	start_otagit small "$work/fleet100k" 18292
	small=$pid
	wait_synced small
	rps_at() { # devices port
		DEVICES=$1 wrk -t2 -c16 -d"$DURATION" -s scripts/poll.lua "http://127.0.0.1:$2/update" 2>&1 |
			awk '/Requests\/sec/ {print $2}'
	}
	ratios=()
	for round in $(seq 1 "$ROUNDS"); do
		a=$(rps_at 100000 18292)
		b=$(rps_at "$DEVICES" 18291)
		r=$(echo "$b / $a" | bc -l)
		ratios+=("$r")
		printf 'round %d: 304 req/s: 100,000 devices %s, %d devices %s, ratio %.3f\n' "$round" "$a" "$DEVICES" "$b" "$r" >&2
	done
	printf 'median ratio (%d devices / 100,000): %.3f\n' "$DEVICES" \
		"$(median "${ratios[*]}")" >&2
	echo "otagit, $DEVICES devices: RSS after the 304 rounds $(mb "$big" VmRSS) MB, peak $(mb "$big" VmHWM) MB" >&2
fi

# A change that touches 1,000 devices: they move to the beta channel.
base=$(git -C "$work/fleet" rev-parse HEAD)
f=$(ls "$work/fleet/devices"/load-*.toml 2>/dev/null | head -1 || echo "$work/fleet/devices/load.toml")
awk 'BEGIN {n = 0} {print} /^name = / && n < 1000 {print "channel = \"beta\""; n++}' "$f" >"$work/w.toml"
mv "$work/w.toml" "$f"
git -C "$work/fleet" -c user.name=million -c user.email=million@otagit.invalid commit -qam '1,000 devices to beta'
t0=$(date +%s.%N)
timeout "$LIMIT" "$work/otagit" plan --base "$base" "$work/fleet" >"$work/plan.txt"
echo "otagit plan, 1,000 of $DEVICES devices changed: $(echo "$(date +%s.%N) - $t0" | bc) s, $(wc -l <"$work/plan.txt") lines" >&2
