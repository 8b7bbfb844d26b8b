// Tessera's own errors, each with a status and a message fit for the page. One middleware
// (http/errors.ts) renders them; anything else becomes a generic 500 page with no details.
export class TesseraError extends Error {
  constructor(readonly status: number, message: string, readonly code = 'error') {
    super(message);
    this.name = 'TesseraError';
  }
}

export class NotFound extends TesseraError {
  constructor(message = 'This page doesn’t exist.') {
    super(404, message, 'not_found');
  }
}

export class BadRequest extends TesseraError {
  constructor(message = 'That request wasn’t valid. Go back and try again.') {
    super(400, message, 'bad_request');
  }
}

export class SessionExpired extends TesseraError {
  constructor(message = 'This sign-in took too long or was already finished. Go back to the app and start again.') {
    super(400, message, 'session_expired');
  }
}

export function assertThat(condition: unknown, error: Error): asserts condition {
  if (!condition) throw error;
}
