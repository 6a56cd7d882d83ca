// The tabs GraphiQL opens with: one query per question people bring to tcpdir.
export interface Example { query: string; variables?: string }

export const EXAMPLES: Example[] = [
  {
    query: `# Who connects to this host, and to which port?
# (A server with a token: the console's token is sent for you, or set Headers to
#  { "Authorization": "Bearer TOKEN" }. The Docs button shows the whole schema.)
query Inbound($port: Int) {
  summary { total inbound outbound unknown }
  connections(direction: INBOUND, port: $port, limit: 50) {
    local { address port }
    remote { address port }
    state
    processes { pid command }
    verdict { confidence certain }
  }
}`,
    variables: '{ "port": null }',
  },
  {
    query: `# Which processes here call out, and to where?
query Outbound {
  connections(direction: OUTBOUND, limit: 50) {
    processes { pid command }
    local { port }
    remote { address port }
    verdict { confidence certain }
  }
}`,
  },
  {
    query: `# Why is this connection inbound or outbound? Every piece of evidence, with its weight.
query Explain($localAddress: String!, $localPort: Int!, $remoteAddress: String!, $remotePort: Int!) {
  verdict(localAddress: $localAddress, localPort: $localPort, remoteAddress: $remoteAddress, remotePort: $remotePort) {
    direction confidence certain
    evidence { rule favors weight detail conclusive }
  }
}`,
    variables: '{ "localAddress": "127.0.0.1", "localPort": 8080, "remoteAddress": "127.0.0.1", "remotePort": 59666 }',
  },
  {
    query: `# Listeners, who holds them, and their inbound connections
query Listeners {
  listeners {
    local { address port }
    netns
    processes { pid command }
    connections(direction: INBOUND, limit: 20) { remote { address port } }
  }
}`,
  },
  {
    query: `# Is kernel evidence on? How is history recorded?
query Host {
  host {
    source fallbackReason collectedAt socketCount netns
    kernelEvidence { available code reason tracepoint }
    history { mode intervalMs caveat }
  }
  namespaces { id name source reason connectionCount listenerCount }
}`,
  },
  {
    query: `# What opened and closed in the last 15 minutes (history must be on)
query History {
  history(since: "15m", limit: 50) {
    records { direction local { port } remote { address port } process { pid command } openedAt closedAt durationMs }
    next
  }
  flows(since: "1h", groupBy: ["minute", "direction"], limit: 500) { minute direction opened closed }
}`,
  },
  {
    query: `# New connections as they open and close (a subscription over graphql-ws; press run, then open one)
subscription Live {
  connectionEvents {
    type at
    record { direction confidence local { address port } remote { address port } process { pid command } }
  }
}`,
  },
];
