/**
 * Runs async steps one at a time per key, in the order they were asked for; steps of different keys
 * run side by side. A step that fails does not stop the next. A key's queue is dropped once it is empty.
 */
export function serialByKey(): <T>(key: string, step: () => Promise<T>) => Promise<T> {
  const queues = new Map<string, Promise<unknown>>();
  return <T>(key: string, step: () => Promise<T>): Promise<T> => {
    const run = (queues.get(key) ?? Promise.resolve()).then(step, step);
    const tail = run.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => { if (queues.get(key) === tail) queues.delete(key); });
    return run;
  };
}
