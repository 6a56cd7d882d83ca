/** A process holding a socket's file descriptor. */
export interface ProcessRef {
  pid: number;
  command: string;
}

/** Socket inode -> processes holding it. Absent inodes have no known owner. */
export type ProcessMap = ReadonlyMap<number, readonly ProcessRef[]>;
