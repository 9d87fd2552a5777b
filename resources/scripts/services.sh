#!/usr/bin/env bash
# Test services for danube-connect: MinIO (S3), Azurite (Azure Blob), a Python
# venv with the reference readers (delta-rs "deltalake", "lancedb") and
# clickhouse-server (Debian's 18.16, run by this script from a generated config).
#
#   services.sh up       install what is missing (cached), start what is not running,
#                        write <cache>/services.env
#   services.sh down     stop the services this script started
#   services.sh status   show what is installed and running
#   services.sh env      print <cache>/services.env (for: set -a; source <(services.sh env))
#
# Everything lives under ${XDG_CACHE_HOME:-$HOME/.cache}/danube-connect: binaries and
# packages, data directories, and run/ (pid files and logs). Services listen on
# loopback only and use test-only credentials. Works on a fresh Debian machine as
# root (missing node/npm/python venv support is installed with apt-get) and is quick
# when everything is cached.
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/danube-connect"
RUN="$CACHE/run"
ENV_FILE="$CACHE/services.env"

# Pinned versions (all build or install with Go 1.26.8 / Node 20 / Python 3.11+).
MINIO_MODULE="github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
AZURITE_PKG="azurite@3.35.0"
DELTALAKE_PKG="deltalake==1.6.6"
PYARROW_PKG="pyarrow==26.0.1"
LANCEDB_PY_PKG="lancedb==0.40.0"

MINIO_HOST=127.0.0.1
MINIO_PORT="${DC_MINIO_PORT:-19000}"
MINIO_CONSOLE_PORT="${DC_MINIO_CONSOLE_PORT:-19001}"
MINIO_USER=danubeconnect
MINIO_PASSWORD=danubeconnect-secret
CLICKHOUSE_HOST=127.0.0.1
CLICKHOUSE_PORT="${DC_CLICKHOUSE_PORT:-19100}"
CLICKHOUSE_HTTP_PORT="${DC_CLICKHOUSE_HTTP_PORT:-19123}"
AZURITE_HOST=127.0.0.1
AZURITE_PORT="${DC_AZURITE_PORT:-10000}"
# Azurite's well-known development account and key, published in its README.
AZURE_ACCOUNT=devstoreaccount1
AZURE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

apt_install() {
	if [ "$(id -u)" != 0 ]; then
		die "missing $*; install it (apt-get install $*) or run as root"
	fi
	log "installing $* with apt-get"
	if [ -z "${APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# pid_alive NAME: the pid file names a live process.
pid_alive() {
	local f="$RUN/$1.pid" pid
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$1"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_until SECONDS DESCRIPTION NAME CMD...: poll CMD until it succeeds; fail with
# the service's log tail if its process died or the time ran out.
wait_until() {
	local secs=$1 what=$2 name=$3
	shift 3
	local deadline=$((SECONDS + secs))
	until "$@"; do
		# kill -0 alone: right after the fork the child still runs this
		# script's command line, so pid_alive's name check could misfire.
		if ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
			tail -n 30 "$RUN/$name.log" >&2 || true
			die "$what exited during start-up (log: $RUN/$name.log)"
		fi
		if [ $SECONDS -ge $deadline ]; then
			tail -n 30 "$RUN/$name.log" >&2 || true
			die "$what not ready after ${secs}s (log: $RUN/$name.log)"
		fi
		sleep 0.3
	done
}

# start_bg NAME CMD...: start a detached process with its own session, logging
# to run/NAME.log, pid in run/NAME.pid.
start_bg() {
	local name=$1
	shift
	setsid nohup "$@" >"$RUN/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
}

# --- MinIO -------------------------------------------------------------------

minio_bin() { echo "$CACHE/bin/minio"; }

install_minio() {
	[ -x "$(minio_bin)" ] && return
	command -v go >/dev/null || die "go is needed to build MinIO"
	log "building MinIO ($MINIO_MODULE), about 2-3 minutes"
	mkdir -p "$CACHE/bin"
	GOBIN="$CACHE/bin" GOFLAGS=-buildvcs=false go install "$MINIO_MODULE" >"$RUN/minio-build.log" 2>&1 ||
		{ tail -n 30 "$RUN/minio-build.log" >&2; die "building MinIO failed (log: $RUN/minio-build.log)"; }
}

minio_ready() { curl -fsS -o /dev/null "http://$MINIO_HOST:$MINIO_PORT/minio/health/live" 2>/dev/null; }

start_minio() {
	if pid_alive minio && minio_ready; then
		return
	fi
	if port_open "$MINIO_HOST" "$MINIO_PORT"; then
		die "port $MINIO_PORT is taken by another process (set DC_MINIO_PORT)"
	fi
	mkdir -p "$CACHE/minio-data"
	log "starting MinIO on $MINIO_HOST:$MINIO_PORT"
	MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD MINIO_BROWSER=off \
		start_bg minio "$(minio_bin)" server "$CACHE/minio-data" --quiet \
		--address "$MINIO_HOST:$MINIO_PORT" --console-address "$MINIO_HOST:$MINIO_CONSOLE_PORT"
	wait_until 60 MinIO minio minio_ready
}

# --- Azurite -----------------------------------------------------------------

azurite_bin() { echo "$CACHE/azurite/node_modules/.bin/azurite-blob"; }

install_azurite() {
	[ -x "$(azurite_bin)" ] && return
	log "installing $AZURITE_PKG"
	mkdir -p "$CACHE/azurite"
	npm install --prefix "$CACHE/azurite" --no-audit --no-fund --loglevel=error "$AZURITE_PKG" >"$RUN/azurite-install.log" 2>&1 ||
		{ tail -n 30 "$RUN/azurite-install.log" >&2; die "installing Azurite failed (log: $RUN/azurite-install.log)"; }
}

azurite_ready() { port_open "$AZURITE_HOST" "$AZURITE_PORT"; }

start_azurite() {
	if pid_alive azurite && azurite_ready; then
		return
	fi
	if azurite_ready; then
		die "port $AZURITE_PORT is taken by another process (set DC_AZURITE_PORT)"
	fi
	mkdir -p "$CACHE/azurite-data"
	log "starting Azurite (blob) on $AZURITE_HOST:$AZURITE_PORT"
	start_bg azurite "$(azurite_bin)" --blobHost "$AZURITE_HOST" --blobPort "$AZURITE_PORT" \
		--location "$CACHE/azurite-data" --skipApiVersionCheck --disableTelemetry --loose --silent
	wait_until 60 Azurite azurite azurite_ready
}

# --- Python reference readers -----------------------------------------------------

venv_python() { echo "$CACHE/venv/bin/python"; }

python_ready() {
	[ -x "$(venv_python)" ] &&
		"$(venv_python)" -c 'import deltalake, pyarrow, sys; sys.exit(deltalake.__version__ != "1.6.6")' 2>/dev/null
}

install_python() {
	python_ready && return
	if [ ! -x "$(venv_python)" ]; then
		rm -rf "$CACHE/venv"
		python3 -m venv "$CACHE/venv" >"$RUN/venv.log" 2>&1 ||
			{ tail -n 30 "$RUN/venv.log" >&2; die "creating the venv failed (log: $RUN/venv.log)"; }
	fi
	log "installing $DELTALAKE_PKG $PYARROW_PKG into $CACHE/venv"
	"$(venv_python)" -m pip install -q --disable-pip-version-check "$DELTALAKE_PKG" "$PYARROW_PKG" >"$RUN/pip.log" 2>&1 ||
		{ tail -n 30 "$RUN/pip.log" >&2; die "pip install failed (log: $RUN/pip.log)"; }
	python_ready || die "the venv has no working deltalake 1.6.6"
}

# --- ClickHouse ----------------------------------------------------------------
# Debian's clickhouse-server (18.16.1 on bookworm), started directly from a
# generated minimal config with a throw-away data directory; the Debian service
# scripts (root, /var/lib/clickhouse, port 9000) are not used.

clickhouse_bin() { command -v clickhouse-server || echo /usr/sbin/clickhouse-server; }

clickhouse_installed() { [ -x "$(clickhouse_bin)" ] && command -v clickhouse-client >/dev/null; }

clickhouse_ready() {
	clickhouse-client --host "$CLICKHOUSE_HOST" --port "$CLICKHOUSE_PORT" --query 'SELECT 1' >/dev/null 2>&1
}

write_clickhouse_config() {
	local dir=$CACHE/clickhouse
	# A throw-away data directory: every start of the server begins empty, so no
	# table or part left by an earlier run (or a killed test) is seen by the next.
	rm -rf "$dir/data" "$dir/tmp"
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <listen_host>$CLICKHOUSE_HOST</listen_host>
    <tcp_port>$CLICKHOUSE_PORT</tcp_port>
    <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
EOF
	cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
EOF
}

start_clickhouse() {
	if pid_alive clickhouse && clickhouse_ready; then
		return
	fi
	if port_open "$CLICKHOUSE_HOST" "$CLICKHOUSE_PORT"; then
		die "port $CLICKHOUSE_PORT is taken by another process (set DC_CLICKHOUSE_PORT)"
	fi
	write_clickhouse_config
	log "starting clickhouse-server on $CLICKHOUSE_HOST:$CLICKHOUSE_PORT (native)"
	start_bg clickhouse "$(clickhouse_bin)" --config-file="$CACHE/clickhouse/config.xml"
	wait_until 60 clickhouse-server clickhouse clickhouse_ready
}

# --- LanceDB reference reader (Python lancedb, in the same venv) ------------------

python_lancedb_ready() {
	"$(venv_python)" -c 'import lancedb, sys; sys.exit(lancedb.__version__ != "0.40.0")' 2>/dev/null
}

install_python_lancedb() {
	python_lancedb_ready && return
	log "installing $LANCEDB_PY_PKG into $CACHE/venv"
	# pyarrow stays pinned: deltalake shares the venv.
	"$(venv_python)" -m pip install -q --disable-pip-version-check "$LANCEDB_PY_PKG" "$PYARROW_PKG" >"$RUN/pip-lancedb.log" 2>&1 ||
		{ tail -n 30 "$RUN/pip-lancedb.log" >&2; die "pip install failed (log: $RUN/pip-lancedb.log)"; }
	python_lancedb_ready || die "the venv has no working lancedb 0.40.0"
}

# --- commands ----------------------------------------------------------------

write_env() {
	local tmp="$ENV_FILE.tmp.$$"
	cat >"$tmp" <<EOF
# Written by resources/scripts/services.sh up; test-only credentials.
export DC_S3_ENDPOINT=http://$MINIO_HOST:$MINIO_PORT
export DC_S3_ACCESS_KEY_ID=$MINIO_USER
export DC_S3_SECRET_ACCESS_KEY=$MINIO_PASSWORD
export DC_S3_REGION=us-east-1
export DC_AZURE_ENDPOINT=http://$AZURITE_HOST:$AZURITE_PORT/$AZURE_ACCOUNT
export DC_AZURE_ACCOUNT=$AZURE_ACCOUNT
export DC_AZURE_KEY=$AZURE_KEY
export DC_PYTHON=$(venv_python)
export DC_CLICKHOUSE_ADDR=$CLICKHOUSE_HOST:$CLICKHOUSE_PORT
EOF
	mv "$tmp" "$ENV_FILE"
}

# ensure_prerequisites installs the system packages the installs below
# need, one apt-get at a time, before those run in parallel.
ensure_prerequisites() {
	local pkgs=()
	command -v curl >/dev/null || pkgs+=(curl)
	if [ ! -x "$(azurite_bin)" ] && ! command -v npm >/dev/null; then pkgs+=(nodejs npm); fi
	if ! python_ready; then
		command -v python3 >/dev/null || pkgs+=(python3)
		# Debian splits venv/ensurepip out of python3.
		python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3-venv)
	fi
	clickhouse_installed || pkgs+=(clickhouse-server clickhouse-client)
	if [ ! -x "$(minio_bin)" ] && ! command -v go >/dev/null; then
		die "go is needed to build MinIO (see the README for the Go version)"
	fi
	if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
}

cmd_up() {
	mkdir -p "$RUN"
	ensure_prerequisites
	# The slow installs run side by side.
	local pids=() names=()
	if [ ! -x "$(minio_bin)" ]; then install_minio & pids+=($!); names+=(MinIO); fi
	if [ ! -x "$(azurite_bin)" ]; then install_azurite & pids+=($!); names+=(Azurite); fi
	if ! python_ready; then install_python & pids+=($!); names+=(Python); fi
	local i failed=0
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { log "installing ${names[$i]} failed"; failed=1; }
	done
	[ $failed = 0 ] || exit 1
	install_python_lancedb
	start_minio
	start_azurite
	start_clickhouse
	write_env
	log "ready; environment in $ENV_FILE"
}

stop_one() {
	local name=$1 f="$RUN/$1.pid"
	[ -f "$f" ] || return 0
	local pid
	pid=$(cat "$f")
	# Only a process that is still ours: the pid may have been reused.
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$name"; then
		log "stopping $name (pid $pid)"
		kill "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + 15))
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

cmd_down() {
	stop_one minio
	stop_one azurite
	stop_one clickhouse
}

cmd_status() {
	local ok
	printf '%-8s %-10s %-8s %s\n' service installed running address
	[ -x "$(minio_bin)" ] && ok=yes || ok=no
	printf '%-8s %-10s %-8s %s\n' minio "$ok" "$(pid_alive minio && minio_ready && echo yes || echo no)" "http://$MINIO_HOST:$MINIO_PORT"
	[ -x "$(azurite_bin)" ] && ok=yes || ok=no
	printf '%-8s %-10s %-8s %s\n' azurite "$ok" "$(pid_alive azurite && azurite_ready && echo yes || echo no)" "http://$AZURITE_HOST:$AZURITE_PORT/$AZURE_ACCOUNT"
	clickhouse_installed && ok=yes || ok=no
	printf '%-8s %-10s %-8s %s\n' clickhouse "$ok" "$(pid_alive clickhouse && clickhouse_ready && echo yes || echo no)" "$CLICKHOUSE_HOST:$CLICKHOUSE_PORT"
	python_ready && ok=yes || ok=no
	printf '%-8s %-10s %-8s %s\n' python "$ok" - "$(venv_python)"
	[ -f "$ENV_FILE" ] && echo "env file: $ENV_FILE" || echo "env file: missing (run: services.sh up)"
}

cmd_env() {
	[ -f "$ENV_FILE" ] || die "no $ENV_FILE yet: run resources/scripts/services.sh up"
	cat "$ENV_FILE"
}

# Everything runs from the cache, whatever the caller's directory: services
# outlive the checkout that starts them, and Node (Azurite) and
# clickhouse-client abort when their working directory has been removed.
mkdir -p "$RUN"
cd "$RUN"

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	echo "usage: $0 up|down|status|env" >&2
	exit 2
	;;
esac
