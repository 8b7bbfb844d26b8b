// A repo that forwards every call to the repo of the connection in use (connection.ts replaces it when it
// recreates the connection) and passes failures through `fail` (which maps "unreachable" to
// StoreUnavailableError). A plain function per method, no async frame: one extra `.then` per call.
type Method = (...args: unknown[]) => Promise<unknown>;

export function forwarding<T extends object>(methods: readonly string[], current: () => T, fail: (err: unknown) => never): T {
  const out: Record<string, Method> = {};
  for (const name of methods) {
    // A method call on the current repo, so a repo method calling another through `this` still works.
    out[name] = (...args) => (current() as Record<string, Method>)[name](...args).then(undefined, fail);
  }
  return out as T;
}
