import { useEffect } from 'preact/hooks';
import { gql } from '../api';
import { endpoint, explainSentence, processText, type Endpoint } from '../format';
import { Badge, ErrorBar, useLoad } from './common';

const QUERY = `query Drawer($id: ID!) {
  connection(id: $id) {
    id family state local { address port } remote { address port } inode uid netns
    processes { pid command }
    verdict { direction confidence inboundProbability certain evidence { rule favors weight detail conclusive } }
    kernel { direction rule bornAs birthTransition portChosenByConnect explicitPortBind explicitAddressBind sharesListenerPort inheritedAcceptBacklog acceptBacklog }
    listener { local { address port } processes { pid command } }
    peer { id }
  }
}`;

interface Evidence { rule: string; favors: string; weight: number; detail: string; conclusive: boolean }
interface Detail {
  id: string; family: string; state: string; local: Endpoint; remote: Endpoint; inode: string | null; uid: number | null; netns: string | null;
  processes: { pid: number; command: string }[];
  verdict: { direction: string; confidence: number; inboundProbability: number; certain: boolean; evidence: Evidence[] };
  kernel: Record<string, string | boolean | number | null> | null;
  listener: { local: Endpoint; processes: { pid: number; command: string }[] } | null;
  peer: { id: string } | null;
}

/** One connection's verdict: the explain sentence, every piece of evidence, what the kernel says. */
export function Drawer({ id, onClose }: { id: string; onClose: () => void }) {
  const { data, error } = useLoad((signal) => gql<{ connection: Detail | null }>(QUERY, { id }, signal), id);
  const c = data?.connection;
  useEffect(() => {
    const esc = (e: KeyboardEvent) => { if (e.key === 'Escape') onClose(); };
    addEventListener('keydown', esc);
    return () => removeEventListener('keydown', esc);
  }, [onClose]);
  return (
    <aside class="drawer" role="dialog" aria-label="Connection verdict">
      <button class="close" onClick={onClose} aria-label="Close">×</button>
      <ErrorBar error={error} />
      {data && !c && <p>This connection is gone: it closed since the table was read.</p>}
      {c && (
        <>
          <h2><Badge direction={c.verdict.direction} /> {endpoint(c.local)} ↔ {endpoint(c.remote)}</h2>
          <p class="explain" data-testid="explain">{explainSentence(c.local, c.remote, c.verdict)}</p>
          <dl class="facts">
            <dt>State</dt><dd>{c.state} ({c.family})</dd>
            <dt>Process</dt><dd>{processText(c.processes)}</dd>
            <dt>Netns</dt><dd>{c.netns ?? '-'}</dd>
            <dt>P(inbound)</dt><dd>{c.verdict.inboundProbability.toFixed(3)}</dd>
            {c.listener && <><dt>Listener</dt><dd>{endpoint(c.listener.local)} {processText(c.listener.processes)}</dd></>}
            {c.peer && <><dt>Peer</dt><dd>the other end is on this host too (id {c.peer.id})</dd></>}
          </dl>
          <h3>Evidence</h3>
          <table class="evidence">
            <thead><tr><th>Rule</th><th>Favors</th><th>Weight</th><th>What was found</th></tr></thead>
            <tbody>
              {c.verdict.evidence.map((e) => (
                <tr class={e.conclusive ? 'conclusive' : ''}>
                  <td class="rule">{e.rule}</td><td><Badge direction={e.favors} /></td><td class="num">{e.weight.toFixed(2)}{e.conclusive ? ' ✔' : ''}</td><td>{e.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {c.verdict.evidence.length === 0 && <p class="muted">No rule found anything.</p>}
          <h3>What the kernel says</h3>
          {c.kernel ? (
            <dl class="facts">
              {Object.entries(c.kernel).map(([k, v]) => <><dt>{k}</dt><dd>{v === null ? '-' : String(v)}</dd></>)}
            </dl>
          ) : <p class="muted">No kernel record of this socket (kernel evidence off, or it has none).</p>}
          <p class="muted">On the host: <code>tcpdir explain {endpoint(c.local)} {endpoint(c.remote)}</code></p>
        </>
      )}
    </aside>
  );
}
