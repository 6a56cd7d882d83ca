import { performance } from 'node:perf_hooks';

const on = process.env.TCPDIR_TIMING === '1';
let last = 0;
let lastCpu = 0;

/**
 * With TCPDIR_TIMING=1, prints on stderr how long the step just finished took, in wall-clock and
 * CPU time (user+system, this process's threads), and when it ended (ms since the process
 * started): where a one-shot command spends its time.
 */
export function span(step: string): void {
  if (!on) return;
  const now = performance.now();
  const u = process.cpuUsage();
  const cpu = (u.user + u.system) / 1000;
  process.stderr.write(`tcpdir timing: ${step.padEnd(36)} ${(now - last).toFixed(0).padStart(6)} ms, cpu ${(cpu - lastCpu).toFixed(0).padStart(6)} ms (at ${now.toFixed(0)} ms)\n`);
  last = now;
  lastCpu = cpu;
}
