import { PermanentError, TransientError } from '../../shared/errors';

/** The external API is down, throttling (429), answering 5xx or unreachable. Retryable (see bin/config.ts). */
export class ExternalApiUnavailableError extends TransientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The external API refused the request (4xx other than 429). Retrying cannot help. */
export class ExternalApiRejectedError extends PermanentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
