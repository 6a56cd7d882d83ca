import type { ProcessMap } from '../model';
import { conntrackFactsOf, natOfConnection } from '../service/conntrack-view';
import { socketNetns } from '../service/netns-view';
import type { ConnectionRecord } from '../service/records';
import type { SnapshotView } from '../service/view';
import type { RequestContext } from '../resolvers/context';
import { DOCUMENTS } from './documents';
import { ascii, type JsonBytes } from './json-bytes';

/**
 * A selection set: each field, with the selection of its own fields (null for a leaf); a third
 * element is a constant the field always answers (`__typename`: its object type's name).
 */
export type Selection = ReadonlyArray<readonly [string, Selection | null] | readonly [string, null, string]>;

/**
 * The selection of a document's top-level field, read from its text: the row shape `list`
 * prints. Only plain nested field names are understood (no arguments, aliases, fragments or
 * directives below the top field); anything else throws, so a document changed that way is
 * caught by the first test that lists connections, not silently printed wrong.
 */
export function rowSelection(document: string): Selection {
  const open = document.indexOf('{', document.indexOf('{') + 1);
  const tokens = document.slice(open + 1).match(/[A-Za-z_][A-Za-z0-9_]*|[{}]|\S/g) ?? [];
  let i = 0;
  const level = (): Selection => {
    const out: [string, Selection | null][] = [];
    for (;;) {
      const t = tokens[i++];
      if (t === '}') return out;
      if (t === '{' && out.length > 0 && out[out.length - 1][1] === null) out[out.length - 1][1] = level();
      else if (t !== undefined && /^[A-Za-z_]/.test(t)) out.push([t, null]);
      else throw new Error(`rowSelection: cannot read ${JSON.stringify(t)} in ${JSON.stringify(document.slice(0, 80))}`);
    }
  };
  return level();
}

/** The fields of the schema's Connection type that field resolvers answer (the rest are the record's own). */
type ConnectionReaders = Record<string, (c: ConnectionRecord) => unknown>;

/**
 * What Connection's field resolvers return, read on one view: the same service calls they make
 * (ConnectionResolver, ConnectionConntrackResolver, ConnectionNetnsResolver), without a
 * promise per field and row.
 */
export function connectionReaders(view: SnapshotView, owners: ProcessMap): ConnectionReaders {
  return {
    verdict: (c) => view.verdictOf(c),
    processes: (c) => (c.socket.inode === 0 ? [] : (owners.get(c.socket.inode) ?? [])),
    nat: (c) => natOfConnection(view.ctx, c.socket),
    conntrack: (c) => conntrackFactsOf(view.ctx, c.socket),
    netns: (c) => socketNetns(view.snapshot, c.socket),
  };
}

/** `value` cut to `sel` (lists item by item; absent is null, as GraphQL answers a nullable field). */
function pick(value: unknown, sel: Selection): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((v) => pick(v, sel));
  const out: Record<string, unknown> = {};
  const o = value as Record<string, unknown>;
  for (const [name, sub, constant] of sel) out[name] = constant ?? fieldValue(o[name], sub);
  return out;
}

/** A selected field's value: a leaf as it is (absent: null), an object or list cut to `sub`. */
const fieldValue = (v: unknown, sub: Selection | null): unknown => (sub === null ? (v ?? null) : pick(v, sub));

/**
 * `tcpdir list`'s rows: each connection cut to the listConnections document's selection, its
 * fields read as the schema's resolvers read them. The same document run through GraphQL gives
 * the same rows (test/api/cli-rows.test.ts checks it on real sockets); this path skips the
 * execution's per-field machinery, which took most of a cold 40k-row list's time.
 */
export function listRows(readers: ConnectionReaders, selection: Selection = LIST_SELECTION): (c: ConnectionRecord) => Record<string, unknown> {
  checkSelection(readers, selection);
  return (c) => {
    const out: Record<string, unknown> = {};
    for (const [name, sub, constant] of selection) {
      if (constant !== undefined) {
        out[name] = constant;
        continue;
      }
      const read = readers[name];
      out[name] = fieldValue(read ? read(c) : (c as unknown as Record<string, unknown>)[name], sub);
    }
    return out;
  };
}

/**
 * `listRows` and JSON.stringify in one step, into bytes: each row's JSON text, the same bytes,
 * written field by field from the selection without the intermediate objects and strings (at
 * 40k rows the objects, JSON.stringify over them and the strings' joins and encoding took 40% of a
 * cold `list --json`). The writer is generated from the selection, as graphql-jit compiles a
 * query: one straight function per row shape, its constant text (keys, braces) merged into one
 * copy between values, and a call site of its own per field, which V8 optimises early in a cold
 * process (a generic writer recursing over the selection spent a third of the rows' time in its
 * own dispatch).
 */
export function listRowWriter(readers: ConnectionReaders, selection: Selection = LIST_SELECTION): RowWriter {
  checkSelection(readers, selection);
  // Compiled once per selection's shape and which of its fields the readers answer (a client's
  // selection is parsed anew with each request).
  const key = `${selection.map(([name]) => (Object.hasOwn(readers, name) ? 'r' : 'c')).join('')}${JSON.stringify(selection)}`;
  let compiled = COMPILED.get(key);
  if (!compiled) {
    if (COMPILED.size >= 64) COMPILED.clear();
    COMPILED.set(key, (compiled = compileRowWriter(selection, readers)));
  }
  return compiled(selection.map(([name, , constant]) => (constant === undefined && Object.hasOwn(readers, name) ? readers[name] : null)));
}

/** A row of `list`'s document (or another connections document) written as its JSON. */
export type RowWriter = (c: ConnectionRecord, out: JsonBytes) => void;

/** Compiled writers by selection: a server compiles each shape once, not per request. Bounded. */
const COMPILED = new Map<string, (reads: ReadonlyArray<((c: ConnectionRecord) => unknown) | null>) => RowWriter>();

/** The writer's code for `selection`, given the readers in the selection's order (null: the record's own field). */
function compileRowWriter(selection: Selection, readers: ConnectionReaders): (reads: ReadonlyArray<((c: ConnectionRecord) => unknown) | null>) => RowWriter {
  const texts: Uint8Array[] = [];
  const slow: Writer[] = [];
  let vars = 0;
  /** Code writing `text` (constant JSON) now, or nothing. */
  const raw = (text: string): string => {
    if (text === '') return '';
    texts.push(ascii(text));
    return `out.raw(t[${texts.length - 1}]);`;
  };
  /** Code writing object `expr` cut to `sub` after the constant `before`, and the constant text left after it. */
  const object = (expr: string, sub: Selection, before: string): [string, string] => {
    let code = '';
    let pending = before;
    sub.forEach(([name, inner, constant], n) => {
      const key = `${pending}${n === 0 ? '{' : ','}${JSON.stringify(name)}:`;
      // A constant joins the constant text around it: no code.
      if (constant !== undefined) return void (pending = `${key}${JSON.stringify(constant)}`);
      const [c, rest] = value(`${expr}[${JSON.stringify(name)}]`, inner, key);
      code += c;
      pending = rest;
    });
    return [code, `${pending}}`];
  };
  /** Code writing value `expr` cut to `sub` (null: a leaf) after the constant `before`, as `pick` cuts it. */
  const value = (expr: string, sub: Selection | null, before: string): [string, string] => {
    if (sub === null) return [`${raw(before)}out.value(${expr});`, ''];
    const v = `v${vars++}`;
    const i = `i${vars++}`;
    const o = `o${vars++}`;
    const [whole, wholeRest] = object(v, sub, before);
    const [item, itemRest] = object(o, sub, '');
    // A list inside a list (no document has one) goes to the generic writer.
    slow.push(valueWriter(objectWriter(sub)));
    const nested = `s[${slow.length - 1}](${o},out);`;
    return [
      `{const ${v}=${expr};` +
        `if(${v}===null||${v}===undefined){${raw(`${before}null`)}}` +
        `else if(Array.isArray(${v})){${raw(`${before}[`)}` +
          `for(let ${i}=0;${i}<${v}.length;${i}++){if(${i}>0){${raw(',')}}const ${o}=${v}[${i}];` +
            `if(${o}===null||${o}===undefined){${raw('null')}}else if(Array.isArray(${o})){${nested}}else{${item}${raw(itemRest)}}}` +
          `${raw(']')}}` +
        `else{${whole}${raw(wholeRest)}}}`,
      '',
    ];
  };
  let body = '';
  let pending = '';
  selection.forEach(([name, sub, constant], n) => {
    const key = `${pending}${n === 0 ? '{' : ','}${JSON.stringify(name)}:`;
    if (constant !== undefined) return void (pending = `${key}${JSON.stringify(constant)}`);
    const [c, rest] = value(Object.hasOwn(readers, name) ? `r[${n}](c)` : `c[${JSON.stringify(name)}]`, sub, key);
    body += c;
    pending = rest;
  });
  body += raw(`${pending}}`);
  // The names are GraphQL field names (rowSelection reads only [A-Za-z_][A-Za-z0-9_]*), embedded
  // as JSON string literals: nothing from outside the stored document reaches this text.
  return new Function('t', 's', `"use strict";return function(r){return function row(c,out){${body}};};`)(texts, slow) as (reads: ReadonlyArray<((c: ConnectionRecord) => unknown) | null>) => RowWriter;
}

type Writer = (v: unknown, out: JsonBytes) => void;

const CLOSE_OBJECT = ascii('}');
const OPEN_LIST = ascii('[');
const CLOSE_LIST = ascii(']');
const COMMA = ascii(',');
const NULL = ascii('null');

/** `{"name":` for the first field, `,"name":` for the others. */
const fieldKey = (name: string, i: number): Uint8Array => ascii(`${i === 0 ? '{' : ','}${JSON.stringify(name)}:`);

const leafWriter: Writer = (v, out) => out.value(v);

/** An object cut to `sel` (pick, then JSON.stringify): for a list nested in a list, which no document has. */
function objectWriter(sel: Selection): (o: Record<string, unknown>, out: JsonBytes) => void {
  const fields = sel.map(([name, sub, constant], i) => ({
    name, key: fieldKey(name, i),
    write: constant !== undefined ? (_: unknown, out: JsonBytes) => out.string(constant) : sub === null ? leafWriter : valueWriter(objectWriter(sub)),
  }));
  return (o, out) => {
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      out.raw(f.key);
      f.write(o[f.name], out);
    }
    out.raw(CLOSE_OBJECT);
  };
}

/** A selected value: null when absent, lists item by item, as `pick` cuts it. */
function valueWriter(object: (o: Record<string, unknown>, out: JsonBytes) => void): Writer {
  const write: Writer = (v, out) => {
    if (v === null || v === undefined) out.raw(NULL);
    else if (!Array.isArray(v)) object(v as Record<string, unknown>, out);
    else {
      out.raw(OPEN_LIST);
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out.raw(COMMA);
        write(v[i], out);
      }
      out.raw(CLOSE_LIST);
    }
  };
  return write;
}

function checkSelection(readers: ConnectionReaders, selection: Selection): void {
  for (const [name, , constant] of selection) {
    if (constant === undefined && !Object.hasOwn(readers, name) && !ROW_FIELDS.has(name)) throw new Error(`listConnections selects Connection.${name}, which list has no reader for`);
  }
}

/** Connection's fields that the record itself holds (records.ts). */
const ROW_FIELDS = new Set(['id', 'family', 'state', 'local', 'remote', 'inode', 'uid']);

export const LIST_SELECTION = rowSelection(DOCUMENTS.listConnections);

/**
 * The writer of rows cut to `selection` on a request's view (REST lists and big GraphQL lists past
 * their first page); the owners are resolved only when the selection asks for processes.
 */
export async function requestRowWriter(ctx: RequestContext, selection: Selection): Promise<RowWriter> {
  const view = await ctx.view();
  const owners = selection.some(([name]) => name === 'processes') ? await ctx.service.processesOf(view) : NO_OWNERS;
  return listRowWriter(connectionReaders(view, owners), selection);
}

const NO_OWNERS: ProcessMap = new Map();
