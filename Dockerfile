# tcpdir: build the TypeScript and both addons (the eBPF programs are a committed skeleton: no
# clang or libbpf needed), then ship a slim runtime.
# Run (host network and pid namespaces: tcpdir reports the host's sockets and processes):
#   docker run --rm --network host --pid host \
#     --cap-add SYS_ADMIN --cap-add BPF --cap-add PERFMON --cap-add SYS_PTRACE --cap-add NET_ADMIN \
#     -v /run/netns:/run/netns:ro -v tcpdir-history:/var/lib/tcpdir tcpdir
# SYS_ADMIN: enter other network namespaces (setns); BPF+PERFMON: load the eBPF iterator and
# tracepoint; SYS_PTRACE: read other users' /proc/PID/fd for process attribution. Without them
# tcpdir still starts and serves heuristic verdicts for what it can see, and says what is missing.
# NET_ADMIN: read conntrack tables (conntrack evidence, the NAT view). Connection history
# is kept in /var/lib/tcpdir: a volume keeps it across containers.

FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp must build offline against this image's own Node headers.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY . .
RUN npm ci --foreground-scripts && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json /app/schema.graphql ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/web ./dist/web
# The CRI's api.proto, read when a CRI socket is used (pods from the container runtime).
COPY --from=build /app/proto ./proto
COPY --from=build /app/build/Release/*.node ./build/Release/
COPY --from=build /app/node_modules ./node_modules
EXPOSE 4000
# With --network host, 127.0.0.1 is the host's loopback; to listen elsewhere pass --host and a token.
ENTRYPOINT ["node", "--initial-old-space-size=64", "bin/tcpdir.js"]
VOLUME /var/lib/tcpdir
CMD ["serve", "--host", "127.0.0.1", "--port", "4000", "--data-dir", "/var/lib/tcpdir"]
