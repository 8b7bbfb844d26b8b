// Commit rows and what keeps them in the file. A row is deleted once nothing in it is current: every
// record that a live artifact still needs holds a reference on its row, and a removal record holds one
// on its own row while the row of the upsert it cancels remains (a pin), so a replay never brings back
// what was removed.
import type { Journal } from './journal.ts';

/** A commit row (artifact_log.seq), with how many current records (or pinned removals) it holds. */
export interface Row {
  seq: number;
  live: number;
  /** Rows holding removal records that must outlive this one (it holds the upserts they cancel). */
  pins?: Row[];
  /** The row's bytes, while it is among the recent commits (RecentRows), and whether they are all ASCII. */
  recent?: Buffer;
  ascii?: boolean;
}

export class RowRefs {
  /** The row the open commit fills: never "dead" (it is simply not written if nothing in it is needed). */
  pending: Row | null = null;
  /** Rows that no longer hold anything current, to delete with the next commit. */
  private dead: Row[] = [];
  /** At replay, rows are judged once the whole log is read. */
  replaying = false;

  constructor(private readonly journal: Journal) {}

  ref(row: Row): void {
    row.live++;
  }

  unref(row: Row): void {
    if (--row.live > 0) return;
    if (row !== this.pending && !this.replaying) this.dead.push(row);
    const pinned = row.pins;
    if (pinned) {
      this.journal.record(undoUnpin, row, pinned);
      row.pins = undefined;
      for (const r of pinned) this.unref(r);
    }
  }

  /** `removal`'s row holds a removal record of an upsert in `target`: it stays while target does. */
  pin(removal: Row, target: Row): void {
    removal.live++;
    (target.pins ??= []).push(removal);
    this.journal.record(undoPin, removal, target);
  }

  /** The rows to delete in this commit (taken: a failed commit gives them back with restoreDead()). */
  takeDead(): Row[] {
    const dead = this.dead;
    if (dead.length) this.dead = [];
    return dead;
  }

  /**
   * After a failed commit was undone: the rows of `dead` that are still dead wait for the next commit
   * (those the undo brought back to life stay in the file, as they must).
   */
  restoreDead(dead: Row[]): void {
    for (const r of dead) if (r.live === 0) this.dead.push(r);
  }
}

function undoUnpin(row: Row, pinned: Row[]) {
  row.pins = pinned;
  for (const r of pinned) r.live++;
}

function undoPin(removal: Row, target: Row) {
  removal.live--;
  const pins = target.pins!;
  pins.splice(pins.lastIndexOf(removal), 1);
  if (pins.length === 0) target.pins = undefined;
}
