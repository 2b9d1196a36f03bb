# otagit in a container: a static binary (no cgo) on distroless, run as a
# non-root user, with the data directory (local clone, firmware cache,
# check-ins, state) in a volume. See README "Deployment".
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t otagit .
#   docker run -d -p 8080:8080 -v otagit-data:/var/lib/otagit \
#     -e OTAGIT_GIT_TOKEN -e OTAGIT_WEBHOOK_SECRET -e OTAGIT_ADMIN_TOKEN \
#     otagit serve --repo https://github.com/acme/fleet.git \
#     --data /var/lib/otagit --listen :8080

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git (.dockerignore), so the toolchain cannot
# stamp the revision: pass it in (otagit version, /api/status show it).
ARG VERSION=""
ARG REVISION=""
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/otagit/otagit/internal/buildinfo.version=${VERSION} -X github.com/otagit/otagit/internal/buildinfo.revision=${REVISION}" \
      -o /out/otagit ./cmd/otagit \
 && mkdir -p /out/data

# distroless/static: CA certificates (GitHub, https remotes) and a
# "nonroot" user (65532), nothing else; otagit needs no git binary.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/otagit /usr/local/bin/otagit
COPY --from=build --chown=65532:65532 /out/data /var/lib/otagit
USER 65532:65532
VOLUME /var/lib/otagit
EXPOSE 8080
ENTRYPOINT ["otagit"]
# The repository is a local path by default: mount a checkout kept up to
# date by a sidecar at /config, or give --repo URL instead (override CMD).
CMD ["serve", "--repo", "/config", "--data", "/var/lib/otagit", "--listen", ":8080"]
