/**
 * Runs `fn` for the indexes 0..count-1, two at a time. For work that holds a libuv pool thread
 * each (a walk of the host's TCP table, a process's fd table): the pool's other threads stay free
 * for the rest of a snapshot.
 */
export async function twoAtATime(count: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all([lane(), lane()]);
}
