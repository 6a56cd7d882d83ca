/**
 * Why kernel evidence is unavailable, in words a user can act on. The addon's own message names
 * the failing call; users need what is missing and the fix. Every place that shows verdicts
 * (server log, host.kernelEvidence.reason, CLI stderr, /metrics) shows this reason.
 */
export interface KernelUnavailable {
  available: false;
  /** NATIVE_UNAVAILABLE (addon not built), EPERM, ENOBTF, KERNEL_TOO_OLD, EVERIFIER, DISABLED, ... */
  code: string;
  reason: string;
}

const HEURISTIC = 'verdicts are heuristic (never certain from kernel state)';

const REASONS: Record<string, string> = {
  NATIVE_UNAVAILABLE: "the eBPF addon is unusable ({detail}): run `npm ci` in tcpdir's directory to build it",
  EPERM: 'tcpdir may not load eBPF programs: run it as root (or with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)',
  ENOBTF: 'this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default on current Debian, Ubuntu, Fedora and RHEL)',
  KERNEL_TOO_OLD: 'this kernel is too old for the eBPF programs ({detail}): Linux 5.17 or later is needed',
  EVERIFIER: 'the kernel refused the eBPF programs; please report it with this message ({detail})',
  LAYOUT_MISMATCH: 'the eBPF addon was built from other sources than this code ({detail}): run `npm ci` again',
  DISABLED: 'kernel evidence was turned off (--no-kernel-evidence)',
};

/** The addon's message without its "tcpdir_kernel: " prefix, on one line, at most `max` chars. */
function oneLine(raw: string, max = 600): string {
  const s = raw.replace(/^tcpdir_kernel:\s*/, '').replace(/\s+/g, ' ').trim();
  return s.length <= max ? s : `${s.slice(0, max)}...`;
}

export function kernelUnavailable(code: string, raw: string): KernelUnavailable {
  const template = REASONS[code];
  const detail = oneLine(raw);
  const what = template ? template.replace('{detail}', detail) : `loading the eBPF programs failed (${code}: ${detail})`;
  return { available: false, code, reason: `${what}; ${HEURISTIC}` };
}

// The fix in a few words, so the CLI's warning fits an 80-column terminal; the full reason is in
// host.kernelEvidence.reason and the server log.
const HINTS: Record<string, string> = {
  NATIVE_UNAVAILABLE: 'run `npm ci`',
  EPERM: 'run it as root',
  ENOBTF: 'the kernel has no BTF',
  KERNEL_TOO_OLD: 'Linux 5.17+ needed',
  EVERIFIER: 'the kernel refused the programs',
  LAYOUT_MISMATCH: 'run `npm ci` again',
  DISABLED: '--no-kernel-evidence',
};

/** One line of at most 80 columns for a CLI's stderr when its verdicts are heuristic (no kernel evidence). */
export function heuristicWarning(k: { code: string; reason: string }): string {
  const line = `tcpdir: warning: no kernel evidence (${k.code}): ${HINTS[k.code] ?? 'eBPF failed to load'}`;
  return line.length <= 80 ? line : `${line.slice(0, 79)}…`;
}
