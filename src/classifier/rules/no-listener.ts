// A lone connection (its peer is not on this host) that no listener owns, live or seen earlier,
// and for which nothing but port numbers spoke: it is inbound only if a listener accepted it and
// then closed, and port numbers cannot tell that from a client. An active-mode FTP data
// connection, opened by a server from its bound port 20 to a client's high port, has every port
// hint of an inbound connection (low port, outside the ephemeral range, client-range peer:
// 0.90 inbound before this bound, and wrong). So an inbound lean on port hints alone is held
// below 0.7, which reports UNKNOWN: the mission's answer for a lone child of a closed listener.
// The outbound side is not bounded: a client is what a port nobody listens on usually holds.
export const NO_LISTENER_RULE = 'no-listener';

const NO_LISTENER_MAX_LLR = Math.log(0.7 / 0.3);

/** The weight that brings an inbound lean `total` back to the bound (0 when within it). */
export function noListenerScore(total: number): number {
  return total > NO_LISTENER_MAX_LLR ? NO_LISTENER_MAX_LLR - total : 0;
}

export const NO_LISTENER_DETAIL =
  'no listener owns this local port, and none was seen there: it is inbound only if its listener has closed, which port numbers cannot tell from a client, so an inbound lean stays below 0.7 (UNKNOWN)';

export const NO_LISTENER_WHY =
  'A lone connection that no listener owns (live or seen earlier), with only port numbers for evidence: an inbound lean is taken back to below 0.7, so it reports UNKNOWN. Port hints alone cannot tell a closed listener\'s child from a client bound to a low or service port (active-mode FTP data from port 20).';
