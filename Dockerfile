# syntax=docker/dockerfile:1
# Multi-stage build: danube-connect with the lancedb output on a distroless,
# non-root base with glibc. The lancedb output links lancedb-go's native library
# (Rust, cgo), built from registry sources by resources/scripts/lancedb-native.sh:
# the Rust image provides cargo, Debian provides protoc, Go comes from its image.
FROM golang:1.26-bookworm AS go

FROM rust:1.95-bookworm AS build
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The native library's cache (script and Makefile both honour XDG_CACHE_HOME).
ENV XDG_CACHE_HOME=/cache
COPY go.mod go.sum ./
RUN go mod download
# The native library first, in its own layer: it changes only with the script.
COPY resources/scripts/lancedb-native.sh resources/scripts/
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/cache/danube-connect/lancedb/target \
    bash resources/scripts/lancedb-native.sh
COPY . .
ARG VERSION=dev
RUN make build-lancedb BIN=/out/danube-connect VERSION=${VERSION}

# cc: glibc and libgcc, which the cgo binary links dynamically.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/danube-connect /usr/local/bin/danube-connect
COPY config/ /etc/danube-connect/examples/
USER nonroot:nonroot
EXPOSE 4195
ENTRYPOINT ["/usr/local/bin/danube-connect"]
CMD ["run", "/etc/danube-connect/config.yaml"]
