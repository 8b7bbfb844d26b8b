// What recent reads cached on their entries, in two generations: when the young one is full it becomes
// the old one, and the entries of the old one that weren't touched since drop what they cached. (A map
// trimmed from its oldest end made every trim step over the holes left by the last ones: measured at
// ~8 µs per commit.)
import type { Entry } from './entries.ts';

export class ReadCache {
  private static readonly GENERATION = 1024;
  private generation = 0;
  private young: Entry[] = [];
  private old: Entry[] = [];

  keep(entry: Entry, value: string | Record<string, unknown>): void {
    entry.cached = value;
    if (entry.cachedIn === this.generation) return;
    entry.cachedIn = this.generation;
    this.young.push(entry);
  }

  /** Called after each commit. */
  age(): void {
    if (this.young.length < ReadCache.GENERATION) return;
    for (const e of this.old) if (e.cachedIn !== this.generation) e.cached = e.cachedIn = undefined;
    this.old = this.young;
    this.young = [];
    this.generation++;
  }
}
