# Shared by the load-test scripts: source it after `cd` to the repository.

# need_tools installs the Debian packages of missing tools when run as
# root, and fails naming them otherwise.
need_tools() { # tool...
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null && continue
		if [ "$(id -u)" = 0 ]; then
			apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null
		else
			echo "$tool is not installed: apt-get install $tool" >&2
			exit 1
		fi
	done
}

# A scratch directory, $work, and the servers started into $pids: both
# gone when the script exits, however it exits. Commands in $exit_hooks
# (one string each, word-split) run first, for what is not a child (a
# database pg_ctl detached).
work=$(mktemp -d)
pids=()
exit_hooks=()
cleanup() {
	local h
	for h in "${exit_hooks[@]}"; do $h || true; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# start_otagit starts $work/otagit serving $work/fleet on 127.0.0.1:port
# (admin on port+100) with data in $work/data-NAME, logs in
# $work/NAME.log, and adds it to $pids; it sets $pid.
start_otagit() { # name port extra-flags...
	local name=$1 port=$2
	shift 2
	mkdir -p "$work/data-$name"
	"$work/otagit" serve --repo "$work/fleet" --listen "127.0.0.1:$port" --data "$work/data-$name" \
		--poll 0 --admin-listen "127.0.0.1:$((port + 100))" "$@" >"$work/$name.out" 2>"$work/$name.log" &
	pid=$!
	pids+=("$pid")
}

# wait_saved waits, at most 60 s, until the otagit on port has no
# check-in queued (/api/status recording.queued 0).
wait_saved() { # port
	for _ in $(seq 1 600); do
		curl -s "http://127.0.0.1:$1/api/status" | tr -d '\n ' | grep -q '"queued":0' && return 0
		sleep 0.1
	done
	return 1
}

# wait_up polls url until it answers 2xx, for at most 150 s (a large
# fleet loading on a loaded machine); with cacert, over TLS verified by it.
wait_up() { # url [cacert]
	local ca=()
	[ -z "${2:-}" ] || ca=(--cacert "$2")
	for _ in $(seq 1 3000); do
		curl -fs "${ca[@]}" -o /dev/null "$1" && return 0
		sleep 0.05
	done
	echo "server did not come up: $1" >&2
	return 1
}

# run_wrk polls url with scripts/poll.lua ($DEVICES devices, with the
# Authorization header auth if given) for $DURATION, $THREADS threads and
# $CONNS connections; it reports the round on stderr and prints the
# requests/s. Given the pid of the server, it also prints (after the
# requests/s) and reports the CPU time that process spent per request, in
# microseconds: utime+stime from /proc/PID/stat around the round, divided
# by the requests wrk counted. Unlike requests/s, that barely depends on
# what else runs on the machine.
run_wrk() { # name url [auth [pid]]
	local out rps lat errs reqs t0 t1 cpu=
	[ -z "${4:-}" ] || t0=$(cpu_ticks "$4")
	out=$(DEVICES=$DEVICES THREADS=$THREADS AUTH=${3:-} wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s scripts/poll.lua "$2" 2>&1)
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	lat=$(awk '/Latency/ {print $2; exit}' <<<"$out")
	errs=$(awk '/Non-2xx or 3xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
	if [ -n "${4:-}" ]; then
		t1=$(cpu_ticks "$4")
		reqs=$(awk '/requests in/ {print $1}' <<<"$out")
		cpu=$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $reqs" | bc -l)
		printf '%-22s %10s req/s  %5.1f us CPU/req  latency avg %-8s %s\n' "$1" "$rps" "$cpu" "$lat" "$errs" >&2
	else
		printf '%-22s %10s req/s   latency avg %-8s %s\n' "$1" "$rps" "$lat" "$errs" >&2
	fi
	echo "$rps${cpu:+ $cpu}"
}

# cpu_ticks prints the CPU time process pid has used, user and system, in
# clock ticks (getconf CLK_TCK a second).
cpu_ticks() { # pid
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# median prints the median of the space-separated numbers in $1.
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
