// Entry point of `npm run cli`. oidc-provider prints "Unsupported runtime" on Node 20 when its module
// loads; for a CLI whose stderr is parsed as JSON by automation, that one known line is dropped here
// before the real CLI (cli-main.ts) is imported. Every other warning passes through.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
  warn(...args);
};
await import('./cli-main.ts');
