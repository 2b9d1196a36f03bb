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
# gone when the script exits, however it exits.
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
