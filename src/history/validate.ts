// Checks of query arguments that the API passes through from users: a bad one is a
// HistoryFilterError naming the parameter, never a SQLite error or a silently empty answer.
import { HistoryFilterError } from './errors';
import { LIFE_DIRECTIONS, type LifeDirection } from './record';

export function checkTime(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HistoryFilterError(param, 'must be a time in ms since the epoch');
  return v;
}

export function checkPort(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw new HistoryFilterError(param, 'must be a port from 0 to 65535');
  return v;
}

export function checkDirection(v: unknown): LifeDirection | undefined {
  if (v === undefined || v === null) return undefined;
  if (!LIFE_DIRECTIONS.includes(v as LifeDirection)) throw new HistoryFilterError('direction', `must be one of ${LIFE_DIRECTIONS.join(', ')}`);
  return v as LifeDirection;
}
