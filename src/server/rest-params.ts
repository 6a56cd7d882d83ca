import { InputError } from '../service/errors';

/** What a parameter documents beside its type (in /api/openapi.json); its description defaults to the GraphQL argument's. */
interface Doc {
  description?: string;
  /** A value the server answers 200 to (the OpenAPI test sends every example). */
  example?: string | number | boolean;
  required?: boolean;
}
type Kind = Doc & (
  | { type: 'int'; min?: number; max?: number }
  | { type: 'float'; min?: number; max?: number }
  | { type: 'bool' }
  | { type: 'list'; values?: readonly string[] }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'endpoint' }
  | { type: 'string'; maxLength?: number }
);
export type ParamSpec = Record<string, Kind>;
export type ParamKind = Kind;

/** The ranges the service checks (checkPort, checkConfidence), so REST documents and enforces them alike. */
export const PORT = { type: 'int', min: 0, max: 65535 } as const;
export const CONFIDENCE = { type: 'float', min: 0, max: 1 } as const;

/** Largest string parameter, in characters. */
export const MAX_STRING = 256;
/** `ADDRESS:PORT`, IPv6 as `[ADDRESS]:PORT`. */
export const ENDPOINT_PATTERN = '^(\\[[^\\]]{1,64}\\]|[^:\\[\\]]{1,64}):[0-9]{1,5}$';

export const INT32_MAX = 2 ** 31 - 1;

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
  const m = /^\[([^\]]{1,64})\]:([0-9]{1,5})$/.exec(s) ?? /^([^:[\]]{1,64}):([0-9]{1,5})$/.exec(s);
  if (!m) throw new InputError(name, `${name} must be ADDRESS:PORT, with IPv6 as [ADDRESS]:PORT; got ${JSON.stringify(s.slice(0, 80))}`);
  const port = Number(m[2]);
  if (port > 65535) throw new InputError(name, `${name}'s port must be from 0 to 65535, got ${port}`);
  return [m[1], port];
}

/**
 * Turns a query string into GraphQL variables by a route's spec: each parameter at most once,
 * no unknown ones, required ones present, numbers that fit GraphQL's Int and the spec's range,
 * enum values in any case. Errors name the parameter.
 */
export function parseParams(query: Record<string, unknown>, spec: ParamSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(query)) {
    // Own keys only: `toString` or `__proto__` would find the prototype's and pass unchecked.
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!kind) {
      const known = Object.keys(spec);
      throw new InputError(name.slice(0, 40), `unknown parameter ${JSON.stringify(name.slice(0, 40))}${known.length ? `; known: ${known.join(', ')}` : ''}`);
    }
    const s = one(name, raw);
    switch (kind.type) {
      case 'int':
        out[name] = inRange(name, parseInt32(name, s), kind.min, kind.max, 'an integer');
        break;
      case 'float':
        out[name] = inRange(name, parseFloatParam(name, s), kind.min, kind.max, 'a number');
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
        if (s.length === 0 || s.length > MAX_STRING) throw new InputError(name, `${name} must be 1 to ${MAX_STRING} characters, got ${s.length}`);
        out[name] = s.split(',').map((x) => x.trim()).filter(Boolean);
        for (const v of out[name] as string[]) {
          if (kind.values && !kind.values.includes(v)) throw new InputError(name, `${name} takes a comma-separated list of ${kind.values.join(', ')}; got ${JSON.stringify(v.slice(0, 40))}`);
        }
        break;
      case 'endpoint':
        out[name] = parseEndpoint(name, s);
        break;
      case 'string':
        if (s.length === 0 || s.length > (kind.maxLength ?? MAX_STRING)) throw new InputError(name, `${name} must be 1 to ${kind.maxLength ?? MAX_STRING} characters, got ${s.length}`);
        out[name] = s;
        break;
    }
  }
  for (const [name, kind] of Object.entries(spec)) {
    if (kind.required && !(name in out)) throw new InputError(name, `${name} is required`);
  }
  return out;
}

function inRange(name: string, n: number, min: number | undefined, max: number | undefined, what: string): number {
  if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
    const range = min !== undefined && max !== undefined ? `from ${min} to ${max}` : min !== undefined ? `at least ${min}` : `at most ${max}`;
    throw new InputError(name, `${name} must be ${what} ${range}, got ${n}`);
  }
  return n;
}
