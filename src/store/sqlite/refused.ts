/**
 * The embedded store won't open, for a reason an operator must act on (a missing or foreign database
 * where one was kept, files Tessera can't write, a damaged file). Its message says what and how to fix
 * it; main.ts prints it without a stack trace.
 */
export class StoreRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreRefusedError';
  }
}
