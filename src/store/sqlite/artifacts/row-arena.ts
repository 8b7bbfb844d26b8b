// Where commit rows are encoded: slices of 1 MB buffers, filled one after the other. A row's bytes are
// bound to the INSERT and then kept by RecentRows, so an arena is freed once its last row has aged out.
// (A Buffer of its own per row, from the lines joined into one string, cost ~2.5 µs per refresh request
// in profiles, most of it allocating the ArrayBuffer; writing into an arena ~1.7 µs.)

export interface EncodedRow {
  row: Buffer;
  /** Where each record starts, in bytes; one more at the end (one past the last record's end + 1). */
  starts: number[];
  /** Whether every byte is ASCII (then latin1 decodes it, which is cheaper than utf8). */
  ascii: boolean;
}

export class RowArena {
  private static readonly SIZE = 1024 * 1024;
  private buf = Buffer.allocUnsafeSlow(RowArena.SIZE);
  private used = 0;

  /** The records, UTF-8, newline-separated. */
  encode(lines: string[]): EncodedRow {
    let chars = lines.length - 1;
    for (const line of lines) chars += line.length;
    const room = chars * 3; // a UTF-16 unit is at most 3 bytes of UTF-8
    if (this.buf.length - this.used < room) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(RowArena.SIZE, room));
      this.used = 0;
    }
    const buf = this.buf;
    const begin = this.used;
    const starts = new Array<number>(lines.length + 1);
    let at = begin;
    let ascii = true;
    for (let i = 0; i < lines.length; i++) {
      if (i > 0) buf[at++] = 10;
      starts[i] = at - begin;
      const written = buf.write(lines[i], at, 'utf8');
      if (written !== lines[i].length) ascii = false;
      at += written;
    }
    starts[lines.length] = at - begin + 1;
    this.used = at;
    return { row: buf.subarray(begin, at), starts, ascii };
  }
}
