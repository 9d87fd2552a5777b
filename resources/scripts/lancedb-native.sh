#!/usr/bin/env bash
# Build lancedb-go's native static library (liblancedb_go.a) from registry sources
# and cache it; print the archive's path on stdout (all other output goes to stderr).
#
#   lancedb-native.sh          build if not cached, print the path
#   lancedb-native.sh path     print the path the archive has when built (no build)
#
# lancedb-go links a Rust static library that its authors publish only as GitHub
# release assets. This script rebuilds it from what the registries serve:
#   - the `rust/` folder shipped in the lancedb-go module zip (Go module cache),
#   - `lancedb` from crates.io instead of the git tag the module's Cargo.toml names,
#   - lance 0.37.0 patched with `#![recursion_limit = "256"]`: without it rustc
#     >= 1.9x stops with "queries overflow the depth limit!" in lance/src/index.rs.
# Needs cargo (rustup) and protoc (Debian protobuf-compiler; installed when missing
# and running as root). A cold build compiles ~600 crates: 20-30 min on 2 cores.
# The cache key is the lancedb-go version, the lancedb version and the features, so
# a cached archive returns at once; the cargo target directory is kept beside it to
# make a rebuild with other features incremental (delete it to reclaim ~3 GB).
set -euo pipefail

LANCEDB_GO_MODULE=github.com/lancedb/lancedb-go
LANCEDB_GO_VERSION=v0.1.2
LANCEDB_VERSION=0.22.1
LANCEDB_FEATURES="${LANCEDB_FEATURES:-aws}"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/danube-connect/lancedb"
KEY="${LANCEDB_GO_VERSION}-lancedb${LANCEDB_VERSION}-${LANCEDB_FEATURES//,/+}"
OUT_DIR="$CACHE/$KEY"
ARCHIVE="$OUT_DIR/liblancedb_go.a"

log() { printf 'lancedb-native: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "${1:-}" = path ]; then
	echo "$ARCHIVE"
	exit 0
fi
if [ -s "$ARCHIVE" ]; then
	echo "$ARCHIVE"
	exit 0
fi

command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) and retry"
command -v go >/dev/null || die "go not found"
if ! command -v protoc >/dev/null; then
	[ "$(id -u)" = 0 ] || die "protoc not found: apt-get install protobuf-compiler"
	log "installing protobuf-compiler with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >&2
fi
export PROTOC="${PROTOC:-$(command -v protoc)}"

# One build at a time: a second caller waits for the first and then finds the archive.
mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
	log "another build is running; waiting for it"
	flock 9
	if [ -s "$ARCHIVE" ]; then
		echo "$ARCHIVE"
		exit 0
	fi
fi

started=$(date +%s)
module_dir=$(go mod download -json "$LANCEDB_GO_MODULE@$LANCEDB_GO_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$module_dir/rust" ] || die "no rust/ folder in $module_dir"

src="$CACHE/src-$KEY"
rm -rf "$src"
mkdir -p "$src"
cp -r "$module_dir/rust" "$src/lancedb-go"
chmod -R u+w "$src"
manifest="$src/lancedb-go/Cargo.toml"

# crates.io instead of the git tag; only the static library (the cdylib is unused
# and its link alone takes minutes).
features_toml=$(printf '"%s", ' ${LANCEDB_FEATURES//,/ })
features_toml="[${features_toml%, }]"
sed -i \
	-e "s|^lancedb = .*|lancedb = { version = \"=$LANCEDB_VERSION\", default-features = false, features = $features_toml }|" \
	-e 's|^crate-type = .*|crate-type = ["staticlib"]|' \
	"$manifest"
grep -q "^lancedb = { version = \"=$LANCEDB_VERSION\"" "$manifest" || die "could not rewrite the lancedb dependency in $manifest"

log "resolving and fetching crates (lancedb $LANCEDB_VERSION, features $LANCEDB_FEATURES)"
(cd "$src/lancedb-go" && cargo fetch >&2)

# The lance version the lock resolved, and its registry source.
lance_version=$(awk '/^name = "lance"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$src/lancedb-go/Cargo.lock")
[ -n "$lance_version" ] || die "lance not found in Cargo.lock"
crate_file=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"lance-$lance_version.crate" 2>/dev/null | head -1)
[ -n "$crate_file" ] || die "lance-$lance_version.crate not in the cargo registry cache"
log "patching lance $lance_version (recursion_limit = 256)"
tar -xzf "$crate_file" -C "$src"
lib_rs="$src/lance-$lance_version/src/lib.rs"
sed -i '1i #![recursion_limit = "256"]' "$lib_rs"
cat >>"$manifest" <<EOF

[patch.crates-io]
lance = { path = "../lance-$lance_version" }
EOF

log "cargo build --release (cold: 20-30 min on 2 cores)"
export CARGO_TARGET_DIR="$CACHE/target"
(cd "$src/lancedb-go" && nice -n 10 cargo build --release >&2)

built="$CARGO_TARGET_DIR/release/liblancedb_go.a"
[ -s "$built" ] || die "cargo finished but $built is missing"
mkdir -p "$OUT_DIR"
cp "$built" "$ARCHIVE.tmp"
cp "$src/lancedb-go/Cargo.toml" "$src/lancedb-go/Cargo.lock" "$OUT_DIR/"
mv "$ARCHIVE.tmp" "$ARCHIVE"
log "built in $(($(date +%s) - started)) s: $(du -h "$ARCHIVE" | cut -f1) archive, $(du -sh "$CARGO_TARGET_DIR" | cut -f1) target"
echo "$ARCHIVE"
