import type { SnapshotView, TcpdirService } from '../service';

/** Per request: the service, and one snapshot view shared by every resolver of the request. */
export interface RequestContext {
  service: TcpdirService;
  view(): Promise<SnapshotView>;
}

export function requestContext(service: TcpdirService): RequestContext {
  let view: Promise<SnapshotView> | null = null;
  return { service, view: () => (view ??= service.current()) };
}
