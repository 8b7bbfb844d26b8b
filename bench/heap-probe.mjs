// Bench-only preload for the memory run (node --expose-gc --import bench/heap-probe.mjs, both servers):
// on SIGUSR2 it runs full garbage collections and writes what is still live to HEAP_PROBE_FILE (renamed
// into place, so the bench never reads half a file). RSS says how much memory V8 kept; this says how much
// of it is live data, which is what tells artifacts that are still valid from a leak.
import fs from 'node:fs';

const file = process.env.HEAP_PROBE_FILE;
if (file && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    globalThis.gc(); // the second collects what the first's finalizers released
    const m = process.memoryUsage();
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ heapUsed: m.heapUsed, external: m.external, rss: m.rss }));
    fs.renameSync(`${file}.tmp`, file);
  });
}
