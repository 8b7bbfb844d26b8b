// The bytes of the most recent commit rows, up to a budget, on their rows (outside V8's heap). What was
// just written (a code, a rotated refresh token, a session) is read back without a SQLite read (~7 µs for
// a 6 KB row, measured), and the young-generation GC doesn't copy it (as JS strings these records were
// most of what survived each scavenge in the refresh benchmark, bench/). At ~100 logins/s the budget is
// several seconds of artifacts: codes, sessions and interactions are read back within those.
import type { Row } from './rows.ts';

export class RecentRows {
  private static readonly BUDGET = 4 * 1024 * 1024;
  private rows: Row[] = [];
  private head = 0;
  private bytes = 0;

  add(row: Row, bytes: Buffer, ascii: boolean): void {
    row.recent = bytes;
    row.ascii = ascii;
    this.rows.push(row);
    this.bytes += bytes.length;
    while (this.bytes > RecentRows.BUDGET) {
      const oldest = this.rows[this.head++];
      this.bytes -= oldest.recent!.length;
      oldest.recent = undefined;
    }
    if (this.head > 1024 && this.head * 2 > this.rows.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }
}
