# conntrack-exporter image. Run it on the host's network with the one
# capability it needs:
#
#   docker run --cap-add=NET_ADMIN --net=host IMAGE [--listen-port=9101 ...]
#
# or one of the package's other commands, named first:
#
#   docker run --cap-add=NET_ADMIN --net=host IMAGE tcp_established_exporter --simple=true
#
# BASE_IMAGE, which builds, is any image laid out like the official Node.js
# Debian bookworm images (node in /usr/local, its headers in
# /usr/local/include); RUNTIME_IMAGE is the Debian it is based on, to which
# only the node binary is copied: npm, yarn, corepack and the C headers
# (about 100 MB) do not ship. The offline test builds stand-ins for both with
# scripts/docker-offline-base.sh.
#
# Node.js 24: an LTS line with security fixes until April 2028. Node 26 (LTS
# since October 2026, fixes until April 2029) would make the image 23 MB
# bigger (its node binary: 150 MB against 127), so it waits until the image
# can shed that elsewhere; the package is tested on both (make test-node-lines).
#
# Multi-architecture: `docker buildx build --platform linux/arm64 .` builds
# the addon for arm64 in the build stage (under QEMU where the host is x64).
ARG BASE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

# Build stage: compilers and the -dev library, none of which ship.
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetfilter-conntrack-dev libmnl-dev pkg-config g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# node-gyp builds against the headers that come with this Node instead of
# downloading them, so the build needs no access to nodejs.org.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp ./
COPY scripts/install.mjs scripts/addon-api-dir.mjs scripts/
COPY native native
# npm ci runs the package's install script, which builds the addon.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
# What ships: the dependencies without the development ones (node-gyp and
# node-addon-api among them, which only build the addon).
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules -depth -type d -empty -delete \
 && test -f build/Release/conntrack.node

# Runtime stage: Debian with node, the shared library, the addon and the JS
# only, plus nft for `enable-tracking` (see entrypoint.sh).
FROM ${RUNTIME_IMAGE}
# The exporter runs as the unprivileged user node (uid 1000) from the start.
# Docker and Kubernetes do not give a non-root process the capabilities they
# add, so a copy of setpriv carries CAP_NET_ADMIN as a file capability
# (permitted only: it cannot run with more than the container allows) and
# hands it to the exporter as an ambient capability (see entrypoint.sh).
# Set-uid bits are removed: nothing here needs them, and with them a process
# could gain root inside the container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetfilter-conntrack3 nftables libcap2-bin \
 && install -d /usr/local/libexec/conntrack-exporter \
 && cp /usr/bin/setpriv /usr/local/libexec/conntrack-exporter/setpriv \
 && setcap cap_net_admin+p /usr/local/libexec/conntrack-exporter/setpriv \
 && apt-get purge -y libcap2-bin \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && find / -xdev -type f -perm /6000 -exec chmod a-s {} + \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --no-create-home --shell /usr/sbin/nologin node
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/build/Release/conntrack.node build/Release/conntrack.node
COPY --from=build /src/dist dist
# The package's commands by name, as npm links them, for the entrypoint's
# first argument (`IMAGE tcp_established_exporter ...`).
RUN node -e 'const fs = require("node:fs"); fs.mkdirSync("bin"); for (const [name, file] of Object.entries(require("./package.json").bin)) fs.symlinkSync(`../${file}`, `bin/${name}`);'
COPY deploy/docker/entrypoint.sh /usr/local/bin/conntrack-exporter-entrypoint
COPY deploy/docker/tracking.nft /usr/local/share/conntrack-exporter/tracking.nft
EXPOSE 9318
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
ENTRYPOINT ["/usr/local/bin/conntrack-exporter-entrypoint"]
