// Scenario suite: real connections of known direction between two network namespaces,
// snapshotted with each source and classified. Needs root, iproute2 and python3.
// Asserted for every agent-side socket: tcpdir reports it, in the state the scenario built;
// its verdict is right (ambiguous scenarios: right whenever confidence >= 0.9); no verdict
// anywhere is wrong at confidence >= 0.9; every `certain` verdict is right.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SourceName } from '../../src/model';
import { NET, unsupportedReason } from './netns';
import { outcomeOf, runScenarios, type Observation, type RunMode } from './runner';
import { isAmbiguous, SCENARIOS } from './scenarios';

const SOURCES: SourceName[] = ['netlink', 'procfs'];
const skip = unsupportedReason();
if (skip) console.log(`# scenario suite skipped: ${skip}`);

function describeObs(o: Observation): string {
  const e = o.expectation;
  const v = o.row?.verdict;
  return `${e.scenario} ${e.label} ${e.local.join(':')} -> ${e.remote.join(':')} (${o.source}, ${o.mode}): expected ${e.direction}, ` +
    `got ${v ? `${v.direction} ${v.confidence.toFixed(3)}${v.certain ? ' certain' : ''} [${v.evidence.map((x) => x.rule).join(', ')}]` : 'no verdict'} ` +
    `in state ${o.row?.state ?? '(socket not reported)'}`;
}

for (const mode of ['isolated', 'combined'] as RunMode[]) {
  describe(`scenarios (${mode})`, { skip: skip ?? false }, () => {
    let obs: Observation[] = [];
    before(async () => {
      obs = await runScenarios({ mode, sources: SOURCES });
    });
    after(() => {
      obs = [];
    });

    for (const source of SOURCES) {
      test(`${source}: the snapshot reads the agent namespace's own ephemeral port range`, () => {
        assert.ok(obs.length > 0, 'no observations');
        for (const o of obs.filter((x) => x.source === source)) {
          assert.deepEqual(o.snapshot.host.ephemeralPortRange, NET.ephemeral);
        }
      });

      for (const sc of SCENARIOS) {
        const ambiguous = isAmbiguous(sc, source);
        test(`${source} ${sc.name}${ambiguous ? ' (ambiguous)' : ''}: ${sc.description}`, () => {
          const mine = obs.filter((o) => o.source === source && o.scenario.name === sc.name);
          assert.ok(mine.length > 0, `${sc.name} recorded no expectations`);
          for (const o of mine) {
            assert.ok(o.row, `tcpdir did not report ${describeObs(o)}`);
            const states = o.expectation.states as string[];
            assert.ok(states.length === 0 || states.includes(o.row.state),
              `scenario setup: expected state ${states.join('|')} for ${describeObs(o)}`);
            const v = o.row.verdict;
            assert.ok(v, `no verdict for a non-LISTEN socket: ${describeObs(o)}`);
            const outcome = outcomeOf(o.expectation.direction, v);
            if (!ambiguous) {
              assert.equal(outcome, 'correct', describeObs(o));
            } else if (v.direction !== 'UNKNOWN' && v.confidence >= 0.9) {
              assert.equal(outcome, 'correct', `confident verdict on an ambiguous scenario is wrong: ${describeObs(o)}`);
            }
          }
        });
      }

      test(`${source}: no wrong verdict at confidence >= 0.9, every certain verdict right`, () => {
        const mine = obs.filter((o) => o.source === source && o.row?.verdict);
        assert.ok(mine.length > 0, 'no verdicts');
        const bad = mine.filter((o) => {
          const v = o.row!.verdict!;
          return outcomeOf(o.expectation.direction, v) === 'wrong' && (v.confidence >= 0.9 || v.certain);
        });
        assert.deepEqual(bad.map(describeObs), []);
      });

      test(`${source}: verdicts are well-formed`, () => {
        for (const o of obs.filter((x) => x.source === source && x.row?.verdict)) {
          const v = o.row!.verdict!;
          assert.ok(v.inboundProbability >= 0 && v.inboundProbability <= 1, describeObs(o));
          if (v.direction === 'UNKNOWN') assert.equal(v.confidence, 0, describeObs(o));
          else assert.ok(v.confidence >= 0.5 && v.confidence <= 1, describeObs(o));
          assert.ok(v.evidence.length > 0 || v.direction === 'UNKNOWN', `verdict without evidence: ${describeObs(o)}`);
        }
      });
    }
  });
}
