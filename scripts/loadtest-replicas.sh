#!/usr/bin/env bash
# Load test of two otagit replicas sharing one PostgreSQL against one
# otagit with bbolt, all of the real binary, on 127.0.0.1, with a new
# connection per request (Connection: close) as ESP devices make them.
#
#   scripts/loadtest-replicas.sh [DEVICES] [DURATION]   e.g. scripts/loadtest-replicas.sh 10000 10s
#
# Needs wrk and PostgreSQL's server binaries (Debian: apt-get install wrk
# postgresql; as root the script installs them, without starting the
# postgresql service). It starts a throwaway PostgreSQL as internal/pgtest
# does (initdb in a temp dir, trust auth, 127.0.0.1 and a unix socket in
# that dir only, as the postgres user under root), with its default
# durability (fsync on, as bbolt syncs), and stops it at exit.
#
# Each round measures both setups back to back, alternating which goes
# first: the replicas by two wrk at once, one per replica, each with half
# the threads and connections, their requests/s summed; bbolt by one wrk
# with all of them. wrk cannot spread one run over two hosts (its Lua
# request() cannot pick the connection's host, and a connection keeps its
# host), so two runs at once with the same total connections is the
# closest to a load balancer in front of two replicas. Printed: the median
# over rounds of each round's ratio (2 replicas + PostgreSQL) / (1 bbolt).
#
# Then one more round on the replicas restarts PostgreSQL in its middle,
# and reports how many answers other than 304 devices got meanwhile (from
# the replicas' /metrics: must be 0; every device reports a version no
# release is newer than, so 304 is the right answer) and that both replicas
# reconnected by themselves (/api/status recording.store reachable and
# loaded, nothing queued), and how long that took.
#
# Bounded: every wait has a limit; the servers and the database are
# stopped at exit however the script ends. All on one machine: the
# replicas, PostgreSQL and wrk share its cores, so the ratio says what a
# shared database costs per request on one box, not how two boxes scale.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${1:-10000}
DURATION=${2:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PGPORT=${PGPORT:-15432}
secs=${DURATION%s}
case $secs in '' | *[!0-9]*)
	echo "DURATION is whole seconds, e.g. 10s" >&2
	exit 2
	;;
esac

. scripts/lib.sh
need_tools wrk curl bc

# PostgreSQL's binaries: Debian's, installed without starting the service
# (policy-rc.d 101) when missing and root.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pg_bin" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "PostgreSQL is not installed: apt-get install postgresql" >&2
		exit 1
	fi
	made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
	pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
if (echo >"/dev/tcp/127.0.0.1/$PGPORT") 2>/dev/null; then
	echo "port $PGPORT is taken: set PGPORT" >&2
	exit 1
fi

# The database's directory is not under $work, which is private to this
# user: under root the server runs as postgres, which must reach it.
pg_dir=$(mktemp -d /tmp/otagit-pg-XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$pg_dir"
	as_pg=(runuser -u postgres --)
fi
pg_opts="-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pg_dir -c max_connections=100"
pg_ctl() { "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" "$@" >/dev/null; }
pg_gone() {
	pg_ctl stop -w -t 20 -m immediate 2>/dev/null || true
	rm -rf "$pg_dir"
}
exit_hooks+=(pg_gone)
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 >/dev/null
pg_ctl start -w -t 60 -o "$pg_opts"
dsn="postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"

go build -o "$work/otagit" ./cmd/otagit
go run ./internal/loadtest/genrepo -devices "$DEVICES" -out "$work/fleet" >/dev/null

declare -A port_of=([r1]=18091 [r2]=18092 [bolt]=18093)
start_otagit r1 "${port_of[r1]}" --store "$dsn"
start_otagit r2 "${port_of[r2]}" --store "$dsn"
start_otagit bolt "${port_of[bolt]}"
for s in r1 r2 bolt; do
	wait_up "http://127.0.0.1:${port_of[$s]}/healthz" || {
		tail -3 "$work/$s.log" >&2
		exit 1
	}
done
echo "devices: $DEVICES, wrk: $THREADS threads, $CONNS connections in all, $DURATION x $ROUNDS rounds, Connection: close; PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT" >&2

# Every device polls every server once first, as in scripts/loadtest.sh:
# the measured rounds see devices the servers know.
warm=()
for s in r1 r2 bolt; do
	KEEPALIVE=1 DEVICES=$DEVICES THREADS=$THREADS wrk -t"$THREADS" -c"$CONNS" -d$((DEVICES / 3000 + 3))s -s scripts/warm.lua \
		"http://127.0.0.1:${port_of[$s]}/update" >"$work/warm-$s.txt" 2>&1 &
	warm+=($!)
done
wait "${warm[@]}"
for s in r1 r2 bolt; do wait_saved "${port_of[$s]}" || echo "$s: check-ins of the warm-up still queued" >&2; done

export KEEPALIVE=0
half_threads=$(((THREADS + 1) / 2))
half_conns=$(((CONNS + 1) / 2))

# replicas runs one wrk per replica at once and prints the summed req/s.
replicas() { # name
	THREADS=$half_threads CONNS=$half_conns run_wrk "$1 r1" "http://127.0.0.1:${port_of[r1]}/update" >"$work/rps-r1" &
	local a=$!
	THREADS=$half_threads CONNS=$half_conns run_wrk "$1 r2" "http://127.0.0.1:${port_of[r2]}/update" >"$work/rps-r2" &
	local b=$!
	wait "$a" "$b"
	echo "$(cat "$work/rps-r1") + $(cat "$work/rps-r2")" | bc -l
}

ratios=
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		two=$(replicas "[$round] replica")
		one=$(run_wrk "[$round] bbolt" "http://127.0.0.1:${port_of[bolt]}/update")
	else
		one=$(run_wrk "[$round] bbolt" "http://127.0.0.1:${port_of[bolt]}/update")
		two=$(replicas "[$round] replica")
	fi
	printf '[%s] 2 replicas + PostgreSQL %.0f req/s, 1 bbolt %.0f req/s\n' "$round" "$two" "$one" >&2
	ratios+="$(echo "$two / $one" | bc -l) "
done

# not304 prints how many device answers the otagit on port gave with a
# status other than 304, from its /metrics.
not304() { # port
	curl -fs "http://127.0.0.1:$(($1 + 100))/metrics" |
		awk '/^otagit_device_requests_total\{/ && !/status="304"/ {n += $NF} END {printf "%d\n", n}'
}
# store_ok reports whether the otagit on port reaches and has read its
# store, with nothing queued.
store_ok() { # port
	curl -fs "http://127.0.0.1:$1/api/status" | tr -d '\n ' |
		grep -q '"queued":0.*"loaded":true,"reachable":true'
}

before=$(($(not304 "${port_of[r1]}") + $(not304 "${port_of[r2]}")))
restart_secs=$((secs < 6 ? 6 : secs))
DURATION=${restart_secs}s replicas "[restart] replica" >"$work/rps-restart" &
load=$!
sleep $((restart_secs / 3))
t0=$(date +%s.%N)
pg_ctl restart -w -t 60 -m fast -o "$pg_opts"
echo "PostgreSQL restarted in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5)s, under load" >&2
wait "$load"
after=$(($(not304 "${port_of[r1]}") + $(not304 "${port_of[r2]}")))
reconnected=
for _ in $(seq 1 600); do # 60 s at most
	if store_ok "${port_of[r1]}" && store_ok "${port_of[r2]}"; then
		reconnected=$(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5)
		break
	fi
	sleep 0.1
done
for s in r1 r2; do
	echo "$s: $(curl -fs "http://127.0.0.1:${port_of[$s]}/api/status" | tr -d '\n ' | grep -o '"recording":{.*"store":{[^}]*}')" >&2
	echo "$s: log: $(grep -c 'database unreachable' "$work/$s.log") 'database unreachable', $(grep -c 'database reachable again' "$work/$s.log") 'database reachable again'" >&2
done
echo "load average after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

printf 'close throughput ratio (2 replicas + PostgreSQL)/(1 bbolt): %.3f (median of %d rounds: %s)\n' \
	"$(median "$ratios")" "$ROUNDS" "$(for r in $ratios; do printf '%.3f ' "$r"; done)" >&2
echo "PostgreSQL restart under load: $((after - before)) answers other than 304 (want 0)" >&2
if [ -n "$reconnected" ]; then
	echo "both replicas reconnected by themselves: store reachable and read, nothing queued, ${reconnected}s after the restart began" >&2
else
	echo "a replica did NOT reconnect within 60 s" >&2
fi
[ "$((after - before))" = 0 ] && [ -n "$reconnected" ]
