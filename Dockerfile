# syntax=docker/dockerfile:1
# Multi-stage build: a static danube-connect binary on a distroless, non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.Version=${VERSION} -X main.DateBuilt=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      -o /out/danube-connect ./cmd/danube-connect

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/danube-connect /usr/local/bin/danube-connect
COPY config/ /etc/danube-connect/examples/
USER nonroot:nonroot
EXPOSE 4195
ENTRYPOINT ["/usr/local/bin/danube-connect"]
CMD ["run", "/etc/danube-connect/config.yaml"]
