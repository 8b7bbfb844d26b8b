// At start the memory index is built by replaying the log, oldest row first. Expired artifacts are
// skipped, and rows found to hold nothing current are deleted.
import type { LogFile } from './log-file.ts';
import type { MemoryIndex } from './memory-index.ts';
import type { Row, RowRefs } from './rows.ts';
import type { LogRecord } from './records.ts';
import { entryFor, setOwners } from './entries.ts';

/** Replays the whole log into `index` (empty, journal off); returns the last row number. */
export function replay(file: LogFile, index: MemoryIndex, refs: RowRefs, now: number): number {
  refs.replaying = true;
  // [row of a removal or of a newer upsert, row of the upsert it cancelled]: pinned as at run time, in
  // log order (a pin keeps a row alive that a later pin may depend on).
  const removals: Array<[Row, Row]> = [];
  const rows: Row[] = [];
  let last = 0;
  for (const { seq, bytes } of file.rows()) {
    const row: Row = { seq, live: 0 };
    rows.push(row);
    last = Math.max(last, seq);
    for (let start = 0, end = 0; start < bytes.length; start = end + 1) {
      end = bytes.indexOf(10, start);
      if (end === -1) end = bytes.length;
      const r = JSON.parse(bytes.toString('utf8', start, end)) as LogRecord;
      const model = index.model(r.m);
      const current = model.byId.get(r.i);
      if (r.o === 'u') {
        if (current) {
          if (current.row !== row) removals.push([row, current.row]);
          index.forget(model, current);
        }
        if (r.e !== null && r.e <= now) continue; // expired: gone
        const entry = entryFor(r.m, r.i, row, start, end, r.e, r.p);
        if (model.owned) setOwners(entry, r.p);
        index.link(model, entry);
      } else if (r.o === 'c' && current) {
        index.consume(model, current, r.c, row);
      } else if (r.o === 'd' && current) {
        if (current.row !== row) removals.push([row, current.row]);
        index.forget(model, current);
      }
    }
  }
  refs.replaying = false;
  for (const [removalRow, target] of removals) if (target.live > 0) refs.pin(removalRow, target);
  const dead = rows.filter((r) => r.live === 0);
  try {
    file.remove(dead.map((r) => r.seq));
  } catch {
    refs.restoreDead(dead); // a file that takes no writes now (full, read-only): the next commit tries again
  }
  return last;
}
