// What the open commit changed in memory, so that a failed commit can take back exactly that (issue 12,
// item 6): before, a failed commit reloaded the whole log synchronously (2.75 s at 169k artifacts) while
// every request waited. Each change records the function that undoes it and up to four arguments, in a
// flat array (no closure per change: the token path makes several per request); undo() runs them in
// reverse order, which returns every map, reference count and pin to what it was when the commit opened.

/** The argument types differ per undo function: each recorder passes the ones its function takes. */
export type Undo = (a: any, b: any, c: any, d: any) => void;

export class Journal {
  private ops: unknown[] = [];
  /** Off while the log is replayed at start: nothing there is ever taken back. */
  recording = true;

  record(undo: Undo, a?: unknown, b?: unknown, c?: unknown, d?: unknown): void {
    if (this.recording) this.ops.push(undo, a, b, c, d);
  }

  /** Undoes everything recorded since the last clear(), newest first. */
  undo(): void {
    const ops = this.ops;
    this.ops = [];
    for (let i = ops.length - 5; i >= 0; i -= 5) (ops[i] as Undo)(ops[i + 1], ops[i + 2], ops[i + 3], ops[i + 4]);
  }

  /** The commit went through: nothing to take back. */
  clear(): void {
    if (this.ops.length) this.ops = [];
  }
}
