import { InputError } from '../service';

type Kind = { type: 'int' } | { type: 'float' } | { type: 'bool' } | { type: 'list' } | { type: 'enum'; values: readonly string[] } | { type: 'endpoint' } | { type: 'string' };
export type ParamSpec = Record<string, Kind>;

const INT32_MAX = 2 ** 31 - 1;

function one(name: string, raw: unknown): string {
  if (Array.isArray(raw)) throw new InputError(name, `${name} was given ${raw.length} times; give it once`);
  return String(raw);
}

function parseInt32(name: string, s: string): number {
  if (!/^-?\d{1,10}$/.test(s)) throw new InputError(name, `${name} must be an integer, got ${JSON.stringify(s.slice(0, 40))}`);
  const n = Number(s);
  if (Math.abs(n) > INT32_MAX) throw new InputError(name, `${name} is out of range: ${s}`);
  return n;
}

function parseFloatParam(name: string, s: string): number {
  const n = s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(n)) throw new InputError(name, `${name} must be a number, got ${JSON.stringify(s.slice(0, 40))}`);
  return n;
}

/** `a.b.c.d:port` or `[v6]:port` -> [address, port]. */
export function parseEndpoint(name: string, s: string): [string, number] {
  const m = /^\[([^\]]{1,64})\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]{1,64}):(\d{1,5})$/.exec(s);
  if (!m) throw new InputError(name, `${name} must be ADDRESS:PORT, with IPv6 as [ADDRESS]:PORT; got ${JSON.stringify(s.slice(0, 80))}`);
  return [m[1], Number(m[2])];
}

/**
 * Turns a query string into GraphQL variables by a route's spec: each parameter at most once,
 * no unknown ones, numbers that fit GraphQL's Int, enum values in any case. Errors name the parameter.
 */
export function parseParams(query: Record<string, unknown>, spec: ParamSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(query)) {
    const kind = spec[name];
    if (!kind) {
      const known = Object.keys(spec);
      throw new InputError(name.slice(0, 40), `unknown parameter ${JSON.stringify(name.slice(0, 40))}${known.length ? `; known: ${known.join(', ')}` : ''}`);
    }
    const s = one(name, raw);
    switch (kind.type) {
      case 'int':
        out[name] = parseInt32(name, s);
        break;
      case 'float':
        out[name] = parseFloatParam(name, s);
        break;
      case 'enum': {
        const v = s.toUpperCase();
        if (!kind.values.includes(v)) throw new InputError(name, `${name} must be one of ${kind.values.join(', ')}; got ${JSON.stringify(s.slice(0, 40))}`);
        out[name] = v;
        break;
      }
      case 'bool':
        if (s !== 'true' && s !== 'false') throw new InputError(name, `${name} must be true or false, got ${JSON.stringify(s.slice(0, 40))}`);
        out[name] = s === 'true';
        break;
      case 'list':
        if (s.length === 0 || s.length > 256) throw new InputError(name, `${name} must be 1 to 256 characters, got ${s.length}`);
        out[name] = s.split(',').map((x) => x.trim()).filter(Boolean);
        break;
      case 'endpoint':
        out[name] = parseEndpoint(name, s);
        break;
      case 'string':
        if (s.length === 0 || s.length > 256) throw new InputError(name, `${name} must be 1 to 256 characters, got ${s.length}`);
        out[name] = s;
        break;
    }
  }
  return out;
}
