import { LISTENER_GONE_RULE, LOCAL_PEER_RULE, PEER_EVIDENCE_RULE } from './rules/local-peer';
import { SOCKET_RULES } from './rules';
import { KERNEL_RULES } from './rules/kernel';
import { NO_LISTENER_RULE, NO_LISTENER_WHY } from './rules/no-listener';

/** Every rule with what it favours, its weight and why: docs/classifier.md's table is printed from this. */
export const RULE_TABLE: ReadonlyArray<{ rule: string; favors: string; weight: string; why: string }> = [
  ...KERNEL_RULES.map((r) => ({ rule: r.rule, favors: r.favors, weight: 'conclusive (outranks all)', why: r.why })),
  ...SOCKET_RULES.map((r) => ({
    rule: r.name,
    favors: r.favors,
    weight: r.weight === 'conclusive' ? 'conclusive' : String(r.weight),
    why: r.why,
  })),
  {
    rule: LOCAL_PEER_RULE,
    favors: 'EITHER',
    weight: 'conclusive',
    why: 'Both ends are sockets on this host and exactly one sits on a live listener (that end is inbound), or the other end is certain.',
  },
  {
    rule: PEER_EVIDENCE_RULE,
    favors: 'EITHER',
    weight: "the peer's own log-odds",
    why: "Both ends are on this host and neither is settled: the peer's evidence counts here too, turned around.",
  },
  { rule: NO_LISTENER_RULE, favors: 'OUTBOUND', weight: 'to log-odds within [-2.09, 0]', why: NO_LISTENER_WHY },
  {
    rule: LISTENER_GONE_RULE,
    favors: 'EITHER',
    weight: 'down to log-odds 1.73',
    why: 'Both ends are on this host, neither has a live listener and only port numbers spoke: one end was accepted by a listener that has closed, and the hints fit the mirror story too (a server on an ephemeral port, a client bound to a service port). It takes back whatever would lift the pair above 0.85.',
  },
];

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** RULE_TABLE as the Markdown table docs/classifier.md carries (a test keeps the two equal). */
export function ruleTableMarkdown(): string {
  const rows = RULE_TABLE.map((r) => `| \`${r.rule}\` | ${r.favors} | ${cell(r.weight)} | ${cell(r.why)} |`);
  return ['| rule | favours | weight (log-odds) | why |', '|---|---|---|---|', ...rows].join('\n');
}
