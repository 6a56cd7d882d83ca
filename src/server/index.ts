export { createServer, type ServerOptions, type TcpdirServer } from './create-server';
export { assertSafeBind, isLoopbackHost, UnsafeBindError } from './bind-policy';
export { tcpdirSchema } from './schema';
export { DOCUMENTS } from './documents';
