// Structured logs through pino. Anything that could carry a secret is redacted by path, so a careless
// `log.info({ body })` can't leak a password or a code.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'password', '*.password', 'code', '*.code', 'client_secret', '*.client_secret', 'secret', '*.secret',
        'body.password', 'body.code', 'headers.authorization', 'headers.cookie', 'recoveryCodes', '*.recoveryCodes',
      ],
      censor: '[redacted]',
    },
  });
}
