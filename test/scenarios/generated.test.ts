// Generated scenarios (test/scenarios/generator.ts), CI-sized: a few hundred labelled sockets
// from a fixed seed (TCPDIR_GEN_SEED overrides it; TCPDIR_GEN_SOCKETS the size), judged in four
// runs: the eBPF iterator with kernel evidence, netlink heuristics, procfs heuristics, and netlink
// heuristics with the agents' conntrack tables (skipped, with the reason, without nft).
// Asserted: every labelled socket is reported; without kernel evidence no verdict is wrong at
// confidence >= 0.9 and none is certain and wrong; with kernel evidence every socket is certain
// and right, except the documented undecidable kinds (kernelUnknown: pre-existing sockets of
// docs/kernel-evidence.md's cases), which are never certain and never wrong at >= 0.9.
// Needs root, iproute2 and python3; the kernel run is skipped, with the reason, when the eBPF
// source cannot load.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { unsupportedReason } from './netns';
import { conntrackUnsupported, outcomeOf, probeKernel, runName, type CollectRun, type Observation } from './runner';
import { runGenerated, seedFromEnv, type GenResult } from './generator';

const skip = unsupportedReason();
if (skip) console.log(`# generated scenarios skipped: ${skip}`);

const SEED = seedFromEnv(18);
const SOCKETS = Number(process.env.TCPDIR_GEN_SOCKETS ?? 300);

let RUNS: CollectRun[] = [
  { source: 'ebpf', kernel: true },
  { source: 'netlink', kernel: false },
  { source: 'procfs', kernel: false },
  { source: 'netlink', kernel: false, conntrack: true },
];
if (!skip) {
  const k = probeKernel();
  if (!k.available) {
    console.log(`# generated scenarios: kernel-evidence run SKIPPED: ${k.code}: ${k.reason}`);
    RUNS = RUNS.filter((r) => !r.kernel);
  }
  const ct = conntrackUnsupported();
  if (ct) {
    console.log(`# generated scenarios: conntrack run SKIPPED: ${ct}`);
    RUNS = RUNS.filter((r) => !r.conntrack);
  }
}

function describeObs(o: Observation): string {
  const e = o.expectation;
  const v = o.row?.verdict;
  return `${e.scenario} (${e.label}) ${e.local.join(':')} -> ${e.remote.join(':')} [${o.run}]: expected ${e.direction}, got ` +
    `${v ? `${v.direction} ${v.confidence.toFixed(3)}${v.certain ? ' certain' : ''} [${v.evidence.map((x) => x.rule).join(', ')}]` : 'no verdict'} ` +
    `in state ${o.row?.state ?? '(not reported)'}`;
}

describe(`generated scenarios (seed ${SEED}: TCPDIR_GEN_SEED=${SEED} replays it)`, { skip: skip ?? false, timeout: 120_000 }, () => {
  let gen: GenResult;
  before(async () => {
    console.log(`# generated scenarios: seed ${SEED}, ${SOCKETS} sockets`);
    gen = await runGenerated({ seed: SEED, sockets: SOCKETS, runs: RUNS });
    console.log(`# generated ${gen.labelled} labelled sockets in ${gen.seconds.toFixed(1)} s; ranges ${gen.ranges.map((r) => `${r.low}-${r.high}`).join(', ')}`);
  });
  after(() => {
    gen = undefined as unknown as GenResult;
  });

  test('the generator labelled a few hundred sockets, each reported in the state it built', () => {
    assert.ok(gen.labelled >= SOCKETS * 0.8, `only ${gen.labelled} sockets labelled (seed ${SEED})`);
    // A TIME_WAIT socket that no run reports, the kernel's own included, never existed: the
    // kernel reset the connection instead (seen once in a few runs, every mode alike). Those are
    // counted apart and must stay rare; any other socket missing, or in another state, fails.
    const key = (o: Observation) => `${o.expectation.local.join(':')}>${o.expectation.remote.join(':')}`;
    const seen = new Set(gen.observations.filter((o) => o.row).map(key));
    const vanished = (o: Observation) => !o.row && !seen.has(key(o)) && o.expectation.states.length === 1 && o.expectation.states[0] === 'TIME_WAIT';
    const gone = new Set(gen.observations.filter(vanished).map(key));
    const timeWait = new Set(gen.observations.filter((o) => o.expectation.states.includes('TIME_WAIT' as never)).map(key));
    if (gone.size) console.log(`# generated scenarios: ${gone.size} of ${timeWait.size} TIME_WAIT sockets were in no run (the kernel's included): not built`);
    assert.ok(gone.size <= Math.max(3, timeWait.size * 0.05), `${gone.size} of ${timeWait.size} TIME_WAIT sockets missing (seed ${SEED})`);
    const bad = gen.observations.filter((o) => !vanished(o) && (!o.row || (o.expectation.states.length > 0 && !o.expectation.states.includes(o.row.state as never))));
    assert.deepEqual(bad.map(describeObs), [], `seed ${SEED}`);
  });

  for (const run of RUNS) {
    const name = runName(run);
    const mine = () => gen.observations.filter((o) => o.run === name && o.row?.verdict);

    test(`${name}: no verdict wrong at confidence >= 0.9, none certain and wrong`, () => {
      const bad = mine().filter((o) => {
        const v = o.row!.verdict!;
        return outcomeOf(o.expectation.direction, v) === 'wrong' && (v.confidence >= 0.9 || v.certain);
      });
      assert.deepEqual(bad.map(describeObs), [], `seed ${SEED}`);
    });

    if (run.kernel) {
      test(`${name}: every socket certain and right, except the documented undecidable kinds`, () => {
        const judged = mine();
        assert.ok(judged.length > 0);
        const bad = judged.filter((o) => {
          const v = o.row!.verdict!;
          if (o.expectation.kernelUnknown) return v.certain && outcomeOf(o.expectation.direction, v) !== 'correct';
          return !v.certain || outcomeOf(o.expectation.direction, v) !== 'correct';
        });
        assert.deepEqual(bad.map(describeObs), [], `seed ${SEED}`);
      });
    }

    if (run.conntrack) {
      test(`${name}: conntrack speaks for most sockets, always for the side that opened them`, () => {
        const judged = mine();
        const weighed = judged.filter((o) => o.row!.verdict!.evidence.some((e) => e.rule === 'conntrack' && e.weight > 0));
        assert.ok(weighed.length >= judged.length / 2, `conntrack spoke for ${weighed.length} of ${judged.length} (seed ${SEED})`);
        const wrong = weighed.filter((o) => o.row!.verdict!.evidence.find((e) => e.rule === 'conntrack')!.favors !== o.expectation.direction);
        assert.deepEqual(wrong.map(describeObs), [], `seed ${SEED}`);
      });
    }
  }
});
