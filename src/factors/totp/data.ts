// What a `totp` factor record stores, validated with zod whenever it's read back.
import { z } from 'zod';

export const TotpDataSchema = z.object({
  /** SecretBox.encrypt ciphertext of the base32 secret: never stored in the clear. */
  secret: z.string(),
  /** Highest step accepted so far; codes at or below it are replays. 0 = none used yet. */
  lastStep: z.number().int().min(0),
  /** The user's name for the device ("Work phone"), shown on /account. */
  label: z.string().max(64).optional(),
});
export type TotpData = z.infer<typeof TotpDataSchema>;
