# danube-connect: build, run, test and benchmark.
SHELL := /bin/bash
.DEFAULT_GOAL := build

VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DATE      := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# Internal linking: Pebble's cgo packages (the disk buffer) would otherwise switch
# the binary to gcc's linker, whose layout keeps ~30 MB more of it resident.
# It needs the pebblegozstd tag: Pebble's cgo zstd (DataDog/zstd) has weak
# symbols the internal linker leaves unresolved, and such a binary does not start.
# Tests and benches build the binary through these targets (BIN=...).
GO_TAGS      := pebblegozstd
LDFLAGS_BASE := -s -w -X main.Version=$(VERSION) -X main.DateBuilt=$(DATE)
LDFLAGS   := $(LDFLAGS_BASE) -linkmode=internal
BIN       := bin/danube-connect
CACHE_DIR := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/danube-connect
SERVICES  := resources/scripts/services.sh
GO_TEST_FLAGS ?= -race -count=1 -timeout 40m
# lancedb output: lancedb-go's native library, built from source once and cached
# (the script prints the archive's path); linked only with -tags lancedb.
LANCEDB_NATIVE := resources/scripts/lancedb-native.sh
LANCEDB_CGO     = archive=$$(bash $(LANCEDB_NATIVE)) && export CGO_ENABLED=1 CGO_LDFLAGS="$$archive -lm -ldl -lpthread"

.PHONY: build build-lancedb run test unit-test services services-down check bench proto docker clean

## build: compile the danube-connect binary into bin/
build:
	go build -tags $(GO_TAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/danube-connect

## build-lancedb: the binary with the lancedb output (first run: builds the native
## library with cargo, 20-30 min on 2 cores, then cached under $(CACHE_DIR)/lancedb)
# Linked to a scratch file and installed as a copy: on recent kernels the
# external linker's large writes leave the file in large page-cache folios,
# which a process maps whole, so the freshly linked binary kept ~40 MB more
# of never-run code resident than the same bytes copied into place.
build-lancedb:
	$(LANCEDB_CGO) && go build -tags lancedb,$(GO_TAGS) -trimpath -ldflags '$(LDFLAGS_BASE)' -o $(BIN).linked ./cmd/danube-connect
	install -m 0755 $(BIN).linked $(BIN) && rm -f $(BIN).linked

## run: build and run the quickstart pipeline (local files only, no servers)
run: build
	$(BIN) run config/quickstart.yaml

## services: install (cached) and start MinIO, Azurite, clickhouse-server and the Python reference readers
services:
	bash $(SERVICES) up

services-down:
	bash $(SERVICES) down

## check: go vet and gofmt
check:
	go vet -tags $(GO_TAGS) ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

## test: start the test services, then run every test with the race detector
## (plus Benthos' conformance suite once more without it: its at-least-once
## definition has a data race in the harness itself). The LanceDB native
## library builds (nice'd, once, cached) while the Go tests run: they spend
## much of their time waiting on servers, and the build fills that time.
test: services check
	@set -euo pipefail; set -a; source $(CACHE_DIR)/services.env; set +a; \
	echo "test: LanceDB native library building in the background (log: $(CACHE_DIR)/lancedb-native.log)"; \
	bash $(LANCEDB_NATIVE) >$(CACHE_DIR)/lancedb-native.log 2>&1 & native=$$!; \
	trap 'kill $$native 2>/dev/null || true' EXIT; \
	go test -tags $(GO_TAGS) $(GO_TEST_FLAGS) ./...; \
	go test -tags $(GO_TAGS) -count=1 -run TestConformance ./plugins/danube/; \
	if ! wait $$native; then tail -30 $(CACHE_DIR)/lancedb-native.log; echo "test: the LanceDB native library did not build"; exit 1; fi; \
	$(LANCEDB_CGO) && go test -tags lancedb,$(GO_TAGS) $(GO_TEST_FLAGS) ./plugins/lancedb/...

## bench: the benchmark tables of every component (ours vs the issue's baselines)
bench: build services
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	set -a && source $(CACHE_DIR)/services.env && set +a && \
	go run ./integration/bench/danube && \
	go run ./integration/bench/delta && \
	go run ./integration/bench/diskbuffer && \
	go run ./integration/bench/webhook && \
	go run ./integration/bench/greptime && \
	go run ./integration/bench/clickhouse && \
	$(LANCEDB_CGO) && go run ./integration/bench/lancedb

## proto: regenerate the Danube gRPC stubs from our .proto files
proto:
	command -v protoc >/dev/null || (apt-get update -qq && apt-get install -y -qq protobuf-compiler)
	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.1
	PATH="$$(go env GOPATH)/bin:$$PATH" protoc -I plugins/danube/danubepb \
		--go_out=paths=source_relative:plugins/danube/danubepb \
		--go-grpc_out=paths=source_relative:plugins/danube/danubepb \
		plugins/danube/danubepb/danube_api.proto plugins/danube/danubepb/schema_registry.proto

## docker: build the container image (needs a Docker engine)
docker:
	docker build --build-arg VERSION=$(VERSION) -t danube-connect:$(VERSION) .

clean:
	rm -rf bin data
