# Build stage: compilers and the -dev library, none of which ship.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetfilter-conntrack-dev pkg-config g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json binding.gyp ./
COPY native native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

# Runtime stage: the shared library, the addon and the JS only.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetfilter-conntrack3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/build/Release/conntrack.node build/Release/conntrack.node
COPY --from=build /src/dist dist
COPY deploy/docker/entrypoint.sh /usr/local/bin/entrypoint.sh
EXPOSE 9318
# The entrypoint starts as root only to hand CAP_NET_ADMIN (from
# `docker run --cap-add=NET_ADMIN`) to the unprivileged user "node" as an
# ambient capability, then runs the exporter as that user.
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
