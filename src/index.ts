import 'reflect-metadata';

export { createServer, type ServerOptions, type TcpdirServer } from './server';
export { collectSnapshot } from './collectors';
export { classify, RULE_TABLE } from './classifier';
export { TcpdirService } from './service';
export type * from './model';
