# conntrack-exporter image. Run it on the host's network with the one
# capability it needs:
#
#   docker run --cap-add=NET_ADMIN --net=host IMAGE [--listen-port=9101 ...]
#
# BASE_IMAGE is any image laid out like the official Node.js 20 Debian
# bookworm images (node in /usr/local, its headers in /usr/local/include);
# the offline test builds a stand-in with scripts/docker-offline-base.sh.
ARG BASE_IMAGE=node:20-bookworm-slim

# Build stage: compilers and the -dev library, none of which ship.
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetfilter-conntrack-dev pkg-config g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# node-gyp builds against the headers that come with this Node instead of
# downloading them, so the build needs no access to nodejs.org.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp ./
COPY scripts/install.mjs scripts/install.mjs
COPY native native
# npm ci runs the package's install script, which builds the addon.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
# What ships: the dependencies without the development ones and without
# node-gyp and node-addon-api, which only build the addon.
RUN npx tsc -p tsconfig.build.json \
 && npm uninstall --no-save --omit=dev --ignore-scripts --no-audit --no-fund node-gyp node-addon-api \
 && find node_modules -depth -type d -empty -delete \
 && test -f build/Release/conntrack.node

# Runtime stage: the shared library, the addon and the JS only, plus nft for
# `enable-tracking` (see entrypoint.sh).
FROM ${BASE_IMAGE}
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
 && find / -xdev -type f -perm /6000 -exec chmod a-s {} +
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/build/Release/conntrack.node build/Release/conntrack.node
COPY --from=build /src/dist dist
COPY deploy/docker/entrypoint.sh /usr/local/bin/conntrack-exporter-entrypoint
COPY deploy/docker/tracking.nft /usr/local/share/conntrack-exporter/tracking.nft
EXPOSE 9318
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
ENTRYPOINT ["/usr/local/bin/conntrack-exporter-entrypoint"]
