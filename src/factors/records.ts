// An account's second factors as records (Logto keeps `mfa_verifications` the same way): one list, each
// record with its type, times and its own data, so a new factor needs no new column or schema field.
// Pure functions over the list; the store keeps it as part of the account document.
import { z } from 'zod';

export const FACTOR_TYPES = ['sms', 'email', 'totp', 'recovery'] as const;
export type FactorType = (typeof FACTOR_TYPES)[number];
/** The factors a user signs in with (recovery codes only back them up). */
export type SecondFactorType = Exclude<FactorType, 'recovery'>;
export const SECOND_FACTOR_TYPES: readonly SecondFactorType[] = ['totp', 'sms', 'email'];

export interface FactorRecord {
  id: string;
  type: FactorType;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** The factor's own data, parsed by its zod schema on read (factorData): secrets encrypted or hashed. */
  data: Record<string, unknown>;
}

/** Data of each type. SMS and email factors use the account's verified phone / email: nothing to keep. */
export const FACTOR_DATA = {
  sms: z.object({}).passthrough(),
  email: z.object({}).passthrough(),
  totp: z.object({ secret: z.string().min(1), lastStep: z.number().int().min(0), label: z.string().max(64).optional() }),
  // key: keyId() of the data key the codes were hashed with (absent on sets made before it was kept).
  recovery: z.object({ codes: z.array(z.string()), key: z.string().optional() }),
} satisfies Record<FactorType, z.ZodType>;

export type FactorData<T extends FactorType> = z.infer<(typeof FACTOR_DATA)[T]>;

export const FactorRecordSchema = z.object({
  id: z.string().min(1),
  type: z.enum(FACTOR_TYPES),
  createdAt: z.coerce.date(),
  lastUsedAt: z.coerce.date().nullable(),
  data: z.record(z.string(), z.unknown()),
});

export function factorOf(factors: readonly FactorRecord[], type: FactorType): FactorRecord | undefined {
  return factors.find((f) => f.type === type);
}

/** A factor's data, validated: a corrupt record fails loudly instead of being half-used. */
export function factorData<T extends FactorType>(factors: readonly FactorRecord[], type: T): FactorData<T> | undefined {
  const f = factorOf(factors, type);
  return f ? (FACTOR_DATA[type].parse(f.data) as FactorData<T>) : undefined;
}

export function hasFactor(factors: readonly FactorRecord[], type: FactorType): boolean {
  return factors.some((f) => f.type === type);
}

/** The list with `record` in place of any earlier one of its type (one record per type). */
export function withFactor(factors: readonly FactorRecord[], record: FactorRecord): FactorRecord[] {
  return [...factors.filter((f) => f.type !== record.type), record];
}

export function withoutFactor(factors: readonly FactorRecord[], type: FactorType): FactorRecord[] {
  return factors.filter((f) => f.type !== type);
}

export function recoveryCodesLeft(factors: readonly FactorRecord[]): number {
  return factorData(factors, 'recovery')?.codes.length ?? 0;
}

/** Second factors turned on (recovery codes aren't one on their own). */
export function secondFactors(factors: readonly FactorRecord[]): SecondFactorType[] {
  return SECOND_FACTOR_TYPES.filter((t) => hasFactor(factors, t));
}

/**
 * The factor list of an account stored before factors existed (`mfa: ['sms']` + `recoveryCodes`): the
 * same protection, as records. Used by both stores' migrations and when such a document is read.
 */
export function factorsFromLegacy(doc: { mfa?: unknown; recoveryCodes?: unknown; createdAt?: Date; updatedAt?: Date }, newId: () => string): FactorRecord[] {
  const at = doc.updatedAt ?? doc.createdAt ?? new Date();
  const out: FactorRecord[] = [];
  const mfa = Array.isArray(doc.mfa) ? doc.mfa.filter((m): m is string => typeof m === 'string') : [];
  for (const type of mfa) {
    if ((FACTOR_TYPES as readonly string[]).includes(type) && type !== 'recovery' && type !== 'totp')
      out.push({ id: newId(), type: type as FactorType, createdAt: at, lastUsedAt: null, data: {} });
  }
  const codes = Array.isArray(doc.recoveryCodes) ? doc.recoveryCodes.filter((c): c is string => typeof c === 'string') : [];
  if (codes.length && out.length) out.push({ id: newId(), type: 'recovery', createdAt: at, lastUsedAt: null, data: { codes } });
  return out;
}

export function newFactor<T extends FactorType>(type: T, data: FactorData<T>, newId: () => string, now = new Date()): FactorRecord {
  return { id: newId(), type, createdAt: now, lastUsedAt: null, data: data as Record<string, unknown> };
}

/**
 * The list after turning a second factor off: when none is left, the recovery codes go too, so no code
 * outlives the factors it backs up.
 */
export function afterRemoving(factors: readonly FactorRecord[], type: FactorType): FactorRecord[] {
  const rest = withoutFactor(factors, type);
  return secondFactors(rest).length ? rest : withoutFactor(rest, 'recovery');
}
