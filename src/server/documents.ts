// Stored GraphQL documents that the REST mirror runs: REST answers are these fields' data, so
// the two APIs cannot drift.
import { DEFAULT_LIMIT } from '../model';

const VERDICT = 'direction confidence inboundProbability certain evidence { rule favors weight detail conclusive }';
const EP = '{ address port }';
const NAT = `nat { originalSource ${EP} originalDestination ${EP} replySource ${EP} replyDestination ${EP} }`;
const CONNTRACK = 'conntrack { netns side origin state direction }';
const CONNECTION = `id family state local { address port } remote { address port } inode uid netns ${NAT} ${CONNTRACK} verdict { ${VERDICT} }`;
const FILTER_VARS = '$direction: Direction, $port: Int, $localPort: Int, $remotePort: Int, $minConfidence: Float, $state: TcpState, $netns: String, $remoteAddress: String, $process: String';
const FILTER_ARGS = 'direction: $direction, port: $port, localPort: $localPort, remotePort: $remotePort, minConfidence: $minConfidence, state: $state, netns: $netns, remoteAddress: $remoteAddress, process: $process';

const LIFE = 'id netns family local { address port } remote { address port } direction confidence certain rule openedAt closedAt firstSeenAt durationMs preExisting process { pid command } bytesSent bytesReceived retransmits observedBy';
const HISTORY_VARS = '$since: String, $until: String, $direction: Direction, $port: Int, $localPort: Int, $remotePort: Int, $remoteAddress: String, $process: String, $netns: String, $minConfidence: Float, $open: Boolean, $limit: Int = 100, $after: String';
const HISTORY_ARGS = 'since: $since, until: $until, direction: $direction, port: $port, localPort: $localPort, remotePort: $remotePort, remoteAddress: $remoteAddress, process: $process, netns: $netns, minConfidence: $minConfidence, open: $open, limit: $limit, after: $after';

export const DOCUMENTS = {
  history: `query History(${HISTORY_VARS}) { history(${HISTORY_ARGS}) { records { ${LIFE} } next } }`,
  flows: `query Flows($since: String, $until: String, $groupBy: [String!], $direction: Direction, $port: Int, $netns: String, $limit: Int = 100) {
  flows(since: $since, until: $until, groupBy: $groupBy, direction: $direction, port: $port, netns: $netns, limit: $limit) {
    minute netns direction localPort remoteAddress remotePort process opened closed durationMsTotal bytesSent bytesReceived } }`,
  historyGaps: `query HistoryGaps($since: String, $until: String) { historyGaps(since: $since, until: $until) { at lost reason } }`,
  historyStatus: `query HistoryStatus { historyStatus { mode intervalMs caveat open opened closed droppedEvents notStored path records bytes lastError } }`,
  connections: `query Connections(${FILTER_VARS}, $limit: Int = ${DEFAULT_LIMIT}, $offset: Int = 0, $orderBy: ConnectionOrder, $descending: Boolean = false) {
  connections(${FILTER_ARGS}, limit: $limit, offset: $offset, orderBy: $orderBy, descending: $descending) { ${CONNECTION} } }`,
  // The CLI's `list` (no REST route): connections with their owners, which cost a /proc scan
  // that REST answers do not pay. Aliased so the CLI reads data[document] as for the others.
  listConnections: `query ListConnections(${FILTER_VARS}, $limit: Int = ${DEFAULT_LIMIT}, $offset: Int = 0) {
  listConnections: connections(${FILTER_ARGS}, limit: $limit, offset: $offset) { ${CONNECTION} processes { pid command } } }`,
  connectionCount: `query ConnectionCount(${FILTER_VARS}) { connectionCount(${FILTER_ARGS}) }`,
  connection: `query Connection($id: ID!) { connection(id: $id) { ${CONNECTION} } }`,
  listeners: `query Listeners($port: Int, $netns: String) { listeners(port: $port, netns: $netns) { id family local { address port } dualStack netns } }`,
  verdict: `query Verdict($localAddress: String!, $localPort: Int!, $remoteAddress: String!, $remotePort: Int!) {
  verdict(localAddress: $localAddress, localPort: $localPort, remoteAddress: $remoteAddress, remotePort: $remotePort) { ${VERDICT} } }`,
  summary: `query Summary($minConfidence: Float, $netns: String) { summary(minConfidence: $minConfidence, netns: $netns) { total inbound outbound unknown byState { state total inbound outbound unknown } } }`,
  namespaces: `query Namespaces { namespaces { id name pids container { runtime id podUid } pod { name namespace uid containerName } ephemeralPortRange { low high } ephemeralPortRangeAssumed reservedPorts { low high } source reason self readAt socketCount connectionCount listenerCount crossNamespacePaired unpairedLocalRemote conntrack { available code reason entries events lostEvents } } }`,
  host: `query Host { host { source fallbackReason collectedAt ephemeralPortRange { low high } reservedPorts { low high } netns kernelEvidence { available code reason tracepoint } conntrack { available code reason entries events lostEvents } socketCount history { mode intervalMs caveat } } }`,
  trackedFlows: `query TrackedFlows($netns: String, $limit: Int = ${DEFAULT_LIMIT}) { trackedFlows(netns: $netns, limit: $limit) { netns opener ${EP} destination ${EP} ${NAT.replace('nat', 'nat')} state origin openerConfidence id } }`,
} as const;

export type DocumentName = keyof typeof DOCUMENTS;
