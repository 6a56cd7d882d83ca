import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, Unauthorized } from '../api';

export function Badge({ direction }: { direction: string }) {
  return <span class={`badge dir-${direction.toLowerCase()}`}>{direction}</span>;
}

export function ErrorBar({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof Unauthorized) return <div class="error" role="alert">This server needs a bearer token: enter it above.</div>;
  const msg = error instanceof Error ? error.message : String(error);
  return <div class="error" role="alert">{error instanceof ApiError && error.code ? `${error.code}: ` : ''}{msg}</div>;
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card">
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** Runs `load` when `key` changes (and every `refreshMs`), keeping the last answer while the next loads. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, key: string, refreshMs = 0): { data: T | null; error: unknown; loading: boolean } {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  useEffect(() => {
    let ctl = new AbortController();
    let alive = true;
    const run = () => {
      ctl = new AbortController();
      setState((s) => ({ ...s, loading: true }));
      load(ctl.signal).then(
        (data) => alive && setState({ data, error: null, loading: false }),
        (error: unknown) => alive && !(error instanceof DOMException && error.name === 'AbortError') && setState((s) => ({ data: s.data, error, loading: false })),
      );
    };
    run();
    const t = refreshMs > 0 ? setInterval(run, refreshMs) : null;
    return () => {
      alive = false;
      ctl.abort();
      if (t) clearInterval(t);
    };
  }, [key]);
  return state;
}
