#!/usr/bin/env bash
# What device authentication costs the /update 304: two otagit servers on
# 127.0.0.1 serve the same generated fleet, one without and one with
# --device-auth (a shared bcrypt credential for both platforms; every
# request sends it, as setAuthorization does), and wrk polls them in
# alternating rounds with a new connection per request.
#
#   scripts/loadtest-auth.sh [DEVICES] [DURATION]      e.g. scripts/loadtest-auth.sh 10000 10s
#
# Env: ROUNDS (5), CONNS (32), THREADS (2), CHECKINS (false). Prints each
# round and the ratio of the medians, on/off: the figure to compare, as
# absolute rates drift on a shared machine. Needs wrk (see loadtest.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${1:-10000}
DURATION=${2:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
CHECKINS=${CHECKINS:-false}

. scripts/lib.sh
need_tools wrk

go build -o "$work/otagit" ./cmd/otagit
go run ./internal/loadtest/genrepo -devices "$DEVICES" -out "$work/fleet" >/dev/null

hash=$(printf 'fleet-pw\n' | "$work/otagit" hash-password)
cat >"$work/devices.auth.toml" <<TOML
[platform.smart-lamp]
user = "fleet"
hash = "$hash"

[platform.weather-station]
user = "fleet"
hash = "$hash"
TOML
auth="Basic $(printf 'fleet:fleet-pw' | base64)"

declare -A port_of=([off]=18092 [on]=18093)
for mode in off on; do
	flags=(--checkins="$CHECKINS")
	[ "$mode" = on ] && flags+=(--device-auth "$work/devices.auth.toml")
	"$work/otagit" serve --repo "$work/fleet" --listen "127.0.0.1:${port_of[$mode]}" --data "$work/data-$mode" \
		--poll 0 "${flags[@]}" >"$work/$mode.out" 2>"$work/$mode.log" &
	pids+=($!)
	wait_up "http://127.0.0.1:${port_of[$mode]}/healthz"
done
# Refused without credentials, served with them.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'x-ESP32-STA-MAC: 24:0A:C4:00:00:00' -H 'x-ESP32-version: 2.1.0' "http://127.0.0.1:${port_of[on]}/update")
[ "$code" = 401 ] || { echo "without credentials: $code, want 401" >&2; exit 1; }
# The first request with the credentials pays the one bcrypt check; the
# rounds measure the polls after it.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $auth" -H 'x-ESP32-STA-MAC: 24:0A:C4:00:00:00' -H 'x-ESP32-version: 2.1.0' "http://127.0.0.1:${port_of[on]}/update")
[ "$code" = 304 ] || { echo "with credentials: $code, want 304" >&2; exit 1; }

echo "devices: $DEVICES, wrk: $THREADS threads, $CONNS connections, $DURATION x $ROUNDS rounds, check-ins $CHECKINS, Connection: close" >&2
declare -A results
for round in $(seq 1 "$ROUNDS"); do
	results[off]+="$(run_wrk "auth off" "http://127.0.0.1:${port_of[off]}/update" "") "
	results[on]+="$(run_wrk "auth on" "http://127.0.0.1:${port_of[on]}/update" "$auth") "
done
off=$(median "${results[off]}")
on=$(median "${results[on]}")
printf 'medians: %s req/s (auth off), %s req/s (auth on)\n' "$off" "$on" >&2
printf 'ratio on/off: %.3f; auth costs %.1f%% of the 304 rate\n' "$(echo "$on / $off" | bc -l)" "$(echo "(1 - $on / $off) * 100" | bc -l)" >&2
