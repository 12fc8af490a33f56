# tinylet, three stages:
#   build       Deno compiles tinylet into one executable
#   runtime     a small glibc image holding only that executable (and mount/umount/cat,
#               which tinylet runs for tmpfs emptyDirs, subPath binds and the mount table)
#   containerd  Debian's containerd, runc and CNI plugins, with a CNI bridge, for the demo stack
# Base images are pinned by tag.

FROM denoland/deno:debian-2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY main.ts ./
COPY lib/ lib/
COPY proto/ proto/
RUN deno install --frozen && deno task compile

FROM debian:12.8-slim AS runtime
COPY --from=build /src/dist/tinylet /usr/local/bin/tinylet
ENTRYPOINT ["/usr/local/bin/tinylet"]
CMD ["run"]

FROM debian:12.8-slim AS containerd
RUN apt-get update \
 && apt-get install -y --no-install-recommends containerd runc containernetworking-plugins iptables ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/containerd/config.toml /etc/containerd/config.toml
COPY deploy/containerd/10-tinylet.conflist /etc/cni/net.d/10-tinylet.conflist
ENTRYPOINT ["containerd", "--config", "/etc/containerd/config.toml"]
