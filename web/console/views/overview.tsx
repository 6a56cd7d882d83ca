import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { gql } from '../api';
import { count } from '../format';
import type { Route } from '../url';
import { Badge, Card, ErrorBar, useLoad } from './common';

const DIRS = ['INBOUND', 'OUTBOUND', 'UNKNOWN'] as const;

// Counts by direction and state come with the summary, from one pass (no rows leave the server).
const OVERVIEW = `query Overview {
  summary { total inbound outbound unknown byState { state inbound outbound unknown } }
  host { source fallbackReason collectedAt socketCount kernelEvidence { available code reason tracepoint } history { mode intervalMs caveat } }
}`;

interface Host {
  source: string; fallbackReason: string | null; collectedAt: string; socketCount: number;
  kernelEvidence: { available: boolean; code: string | null; reason: string | null; tracepoint: boolean };
  history: { mode: string; intervalMs: number; caveat: string } | null;
}
interface StateRow { state: string; inbound: number; outbound: number; unknown: number }
interface OverviewData { summary: { total: number; inbound: number; outbound: number; unknown: number; byState: StateRow[] }; host: Host }
const ofDirection = (r: StateRow, d: (typeof DIRS)[number]): number => (d === 'INBOUND' ? r.inbound : d === 'OUTBOUND' ? r.outbound : r.unknown);

/** Kernel evidence status in plain words. */
export function kernelWords(h: Host): string {
  const k = h.kernelEvidence;
  if (k.available && k.tracepoint) {
    return 'Kernel evidence is on: tcpdir reads from the kernel (eBPF) how each socket was made, and sees new connections being born, so most verdicts are certain.';
  }
  if (k.available) {
    return 'Kernel evidence is on (the eBPF socket iterator), but the state-change tracepoint is not attached: births are not seen as they happen.';
  }
  return `Kernel evidence is off (${k.code ?? 'unknown'}: ${k.reason ?? 'no reason given'}). Verdicts are weighed from what sock_diag and /proc show (listeners, port ranges), so some are uncertain.`;
}

export function Overview({ go }: { go: (r: Partial<Route>) => void }) {
  const { data, error } = useLoad((signal) => gql<OverviewData>(OVERVIEW, {}, signal), 'overview', 5000);
  return (
    <div class="overview">
      <ErrorBar error={error} />
      {data && (
        <>
          <div class="cards">
            <Card title="Connections now">
              <p class="big" data-testid="total">{count(data.summary.total)}</p>
              <p class="muted">{`snapshot ${new Date(data.host.collectedAt).toLocaleTimeString()} · ${data.host.source.toLowerCase()}`}</p>
            </Card>
            {(['inbound', 'outbound', 'unknown'] as const).map((d) => (
              <Card title={d[0].toUpperCase() + d.slice(1)}>
                <a class="big link" href={`?direction=${d}`} onClick={(e) => { e.preventDefault(); go({ view: 'connections', filters: { direction: d } }); }}>
                  {count(data.summary[d])}
                </a>
              </Card>
            ))}
          </div>
          <Card title="Kernel evidence">
            <p data-testid="kernel-status" class={data.host.kernelEvidence.available ? 'ok' : 'warn'}>{kernelWords(data.host)}</p>
            {data.host.fallbackReason && <p class="muted">Socket source: {data.host.fallbackReason}</p>}
            <p class="muted">{data.host.history ? `History (${data.host.history.mode === 'KERNEL' ? 'kernel tracepoint' : `polled every ${data.host.history.intervalMs} ms`}): ${data.host.history.caveat}.` : 'History is off on this server.'}</p>
          </Card>
          <Card title="By state and direction">
            <table class="grid">
              <thead><tr><th>State</th>{DIRS.map((d) => <th class="num"><Badge direction={d} /></th>)}</tr></thead>
              <tbody>
                {data.summary.byState.map((r) => (
                  <tr>
                    <td>{r.state}</td>
                    {DIRS.map((d) => (
                      <td class="num">
                        <a href={`?direction=${d.toLowerCase()}&state=${r.state}`} onClick={(e) => { e.preventDefault(); go({ view: 'connections', filters: { direction: d.toLowerCase(), state: r.state } }); }}>
                          {count(ofDirection(r, d))}
                        </a>
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
          <FlowsChart enabled={data.host.history !== null} />
        </>
      )}
    </div>
  );
}

interface FlowRow { minute: string; direction: string; opened: number }

function FlowsChart({ enabled }: { enabled: boolean }) {
  const { data, error } = useLoad(
    (signal) => (enabled ? gql<{ flows: FlowRow[] }>('{ flows(since: "1h", groupBy: ["minute", "direction"], limit: 500) { minute direction opened } }', {}, signal) : Promise.resolve({ flows: [] })),
    `flows-${enabled}`, 30000,
  );
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || !data || data.flows.length === 0) return;
    // Every minute of the hour, quiet ones at zero, so the axis always spans the hour.
    const now = Math.floor(Date.now() / 60000) * 60;
    const minutes = Array.from({ length: 60 }, (_, i) => now - (59 - i) * 60);
    const at = new Map(minutes.map((m, i) => [m, i]));
    const series = (d: string) => {
      const ys = minutes.map(() => 0);
      for (const f of data.flows) {
        const i = at.get(Date.parse(f.minute) / 1000);
        if (f.direction === d && i !== undefined) ys[i] += f.opened;
      }
      return ys;
    };
    const plot = new uPlot({
      width: el.current.clientWidth || 800, height: 220,
      series: [{}, { label: 'inbound opened', stroke: '#1f77b4', width: 2 }, { label: 'outbound opened', stroke: '#e67e22', width: 2 }, { label: 'unknown opened', stroke: '#888', width: 1 }],
      // Sized to the widest tick (uPlot's fixed 50 px let "300,000" run under the axis label).
      axes: [{}, { label: 'per minute', size: (_u: uPlot, values: string[] | null) => 40 + 7 * Math.max(3, ...(values ?? []).map((v) => v.length)) }],
    }, [minutes, series('INBOUND'), series('OUTBOUND'), series('UNKNOWN')], el.current);
    return () => plot.destroy();
  }, [data]);
  return (
    <Card title="Opened per minute, last hour">
      {!enabled && <p class="muted">History is off on this server, so there is no timeline (serve records it unless started with --no-history).</p>}
      <ErrorBar error={error} />
      {enabled && data && data.flows.length === 0 && <p class="muted">No connection opened in the last hour.</p>}
      {enabled && data && data.flows.length > 0 && <p class="muted">Connections already open when tcpdir started count in the minute it first saw them.</p>}
      <div ref={el} class="chart" />
    </Card>
  );
}
