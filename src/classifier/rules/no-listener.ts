// A lone connection (its peer is not on this host) that no listener owns, live or seen earlier,
// and for which only hints spoke (port numbers, a shared endpoint, no listener seen since start):
// it is inbound only if a listener tcpdir never saw accepted it and closed (before tcpdir
// started, or between two snapshots), and those hints cannot tell that from a client. An
// active-mode FTP data connection, opened by a server from its bound port 20 to a client's high
// port, has every port hint of an inbound connection (0.90 inbound before this bound, and
// wrong); the child of a closed listener inside the ephemeral range, whose client bound a low
// port, has every port hint of an outbound one. So an inbound lean is taken back to even odds
// (UNKNOWN) and an outbound lean held below 0.9 (a client is what a port nobody listens on usually holds, but
// the scenario generator's children of unseen listeners are never called wrong at 0.9).
export const NO_LISTENER_RULE = 'no-listener';

// On the scenario generator such inbound leans were right about half the time (48%, 328
// sockets of 1,992 with seed 1): they are taken back to no lean at all.
const NO_LISTENER_MAX_IN = 0;
const NO_LISTENER_MAX_OUT = Math.log(0.89 / 0.11);

/**
 * The weight that brings the hints' lean (`total` less syn-acked's score) back within the bounds
 * (0 when within them); syn-acked is added after. Its inbound word alone is held below 0.9 too:
 * a client restored by CRIU (TCP_REPAIR) counts no SYN and reads as accepted (measured: an
 * ESTABLISHED repaired socket with bytes_acked 0), and nothing else here would contradict it.
 */
export function noListenerScore(total: number, synAck = 0): number {
  const hints = total - synAck;
  let g = 0;
  if (hints > NO_LISTENER_MAX_IN) g = NO_LISTENER_MAX_IN - hints;
  else if (hints < -NO_LISTENER_MAX_OUT) g = -NO_LISTENER_MAX_OUT - hints;
  if (synAck > 0 && total + g > NO_LISTENER_MAX_OUT) g = NO_LISTENER_MAX_OUT - total;
  return g;
}

export const NO_LISTENER_DETAIL =
  'no listener owns this local port and none was seen there: it is inbound only if a listener tcpdir never saw accepted it and closed, which the other hints cannot tell from a client, so an inbound lean is taken back to even odds (UNKNOWN) and an outbound one held below 0.9';

export const NO_LISTENER_WHY =
  "A lone connection that no listener owns (live or seen earlier), with only hints for evidence (port numbers, a shared endpoint, no listener seen since start): an inbound lean is taken back to even odds (UNKNOWN: on the scenario generator such leans were right half the time), and an outbound lean held below 0.9. Hints cannot tell an unseen listener's child from a client bound to a low or service port (active-mode FTP data from port 20), nor a server inside the ephemeral range from a client. The syn-acked fact, when present, is added after the bound; its inbound word alone is held below 0.9 (a client restored by CRIU reads as accepted).";
