// The records of a commit row, one JSON line each: an upsert (with its expiry, epoch ms or null, and
// the payload as given), a consumption (epoch seconds) or a removal. A record never holds a raw newline
// (JSON escapes it), so a row is its records joined by "\n".

export type LogRecord =
  | { o: 'u'; m: string; i: string; e: number | null; p: Record<string, unknown> }
  | { o: 'c'; m: string; i: string; c: number }
  | { o: 'd'; m: string; i: string };

export const upsertRecord = (model: string, id: string, exp: number | null, payload: Record<string, unknown>) =>
  `{"o":"u","m":${JSON.stringify(model)},"i":${JSON.stringify(id)},"e":${exp},"p":${JSON.stringify(payload)}}`;

export const consumeRecord = (model: string, id: string, at: number) =>
  `{"o":"c","m":${JSON.stringify(model)},"i":${JSON.stringify(id)},"c":${at}}`;

export const removeRecord = (model: string, id: string) => `{"o":"d","m":${JSON.stringify(model)},"i":${JSON.stringify(id)}}`;

/** The payload of an upsert record. */
export const payloadOf = (record: string) => (JSON.parse(record) as Extract<LogRecord, { o: 'u' }>).p;

/** Whether an upsert record is the one of (model, id): its start, as upsertRecord() writes it. */
export function isUpsertOf(record: string, model: string, id: string): boolean {
  const head = `{"o":"u","m":${JSON.stringify(model)},"i":${JSON.stringify(id)},`;
  return record.startsWith(head);
}

/** The id of an upsert record, without parsing its payload. */
export function idOf(record: string): string {
  const from = record.indexOf(',"i":') + 5;
  return JSON.parse(record.slice(from, record.indexOf(',"e":', from))) as string;
}
