# syntax=docker/dockerfile:1
# The exporter as a static binary on distroless (CA certificates, no shell).
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t tailscale-tunnel-exporter .
# cmd/tailscale-tunnel-exporter/chart_test.go builds with this file's flags
# and checks the binary is static and stamped.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION}" -o /out/tailscale-tunnel-exporter ./cmd/tailscale-tunnel-exporter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tailscale-tunnel-exporter /bin/tailscale-tunnel-exporter
USER 65532:65532
EXPOSE 9847
ENTRYPOINT ["/bin/tailscale-tunnel-exporter"]
