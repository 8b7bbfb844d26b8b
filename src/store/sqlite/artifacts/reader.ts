// Reading payloads: from what an entry cached, from the bytes of a recent row, or from its row in the
// file. Every read hands out a fresh object: oidc-provider's models change what they get.
import { copyDoc as copy } from '../schema.ts';
import type { LogFile } from './log-file.ts';
import type { ReadCache } from './read-cache.ts';
import type { Row } from './rows.ts';
import type { Entry } from './entries.ts';
import type { Tombstone } from './tombstones.ts';
import { payloadOf } from './records.ts';

export class PayloadReader {
  constructor(
    private readonly file: LogFile,
    private readonly cache: ReadCache,
  ) {}

  /** An entry's payload (with its consumption), undefined once expired. */
  read(entry: Entry | undefined): Record<string, unknown> | undefined {
    if (!entry || entry.exp <= Date.now()) return undefined;
    const cached = entry.cached;
    let payload: Record<string, unknown>;
    if (typeof cached === 'object') payload = copy(cached);
    else {
      const recent = entry.row.recent;
      const record = cached ?? (recent ? fromBytes(entry.row, recent, entry.start, entry.end) : this.file.record(entry.row.seq, entry.start, entry.end));
      payload = payloadOf(record);
      // Tokens are mostly read once (a refresh token, a code); what is read again (grants, sessions) is
      // likely read many times. A record that had to come from the file is kept for the next read.
      if (entry.readBefore) this.cache.keep(entry, copy(payload));
      else if (cached === undefined && !recent) this.cache.keep(entry, record);
      entry.readBefore = true;
    }
    if (entry.consumed !== undefined) payload.consumed = entry.consumed;
    return payload;
  }

  /** A tombstone's upsert record, as written. */
  record(t: Tombstone): string {
    const recent = t.row.recent;
    return recent ? fromBytes(t.row, recent, t.start, t.end) : this.file.record(t.row.seq, t.start, t.end);
  }

  /** A tombstone's payload from its record (undefined once expired). */
  tombstone(t: Tombstone, record: string = this.record(t)): Record<string, unknown> | undefined {
    if (t.exp <= Date.now()) return undefined;
    const payload = payloadOf(record);
    payload.consumed = t.consumed;
    return payload;
  }
}

// ASCII bytes decode as latin1, which copies them (utf8 must check each one).
const fromBytes = (row: Row, bytes: Buffer, start: number, end: number) => bytes.toString(row.ascii ? 'latin1' : 'utf8', start, end);
