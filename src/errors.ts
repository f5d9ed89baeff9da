/**
 * The one family of errors Keyplane throws on purpose while serving. Each carries its HTTP status;
 * `http/error-handler.ts` is the only place that turns them into responses. The generic kinds are
 * below; a subclass only one layer throws lives beside it (e.g. `auth/delivery-errors.ts`), and an
 * AWS outage becomes a 503 through `awsUnavailable` in `aws-errors.ts`.
 */
export class KeyplaneError extends Error {
  /** HTTP status this error maps to. */
  readonly status: number;
  /** Stable machine-readable code, e.g. `lease_conflict`. */
  readonly code: string;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>;
  /** Extra JSON fields for the response body; never key material. */
  readonly details: Record<string, unknown>;

  constructor(
    status: number,
    code: string,
    message: string,
    opts: { headers?: Record<string, string>; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.headers = opts.headers ?? {};
    this.details = opts.details ?? {};
  }
}

/** A request document or body that cannot be accepted (400). The message names what. */
export class BadRequestError extends KeyplaneError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(400, 'bad_request', message, { details });
  }
}

/** A well-formed request the SPEKE v2 contract rejects (422, with AWS's message texts). */
export class UnprocessableError extends KeyplaneError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(422, 'unprocessable', message, { details });
  }
}

/** No credentials, or credentials that identify nobody (401). */
export class UnauthorizedError extends KeyplaneError {
  constructor(message = 'Authentication required: send Authorization: Bearer <api key> or x-api-key') {
    super(401, 'unauthorized', message, { headers: { 'WWW-Authenticate': 'Bearer realm="keyplane"' } });
  }
}

/** Authenticated, but not allowed to do this (403). */
export class ForbiddenError extends KeyplaneError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

/**
 * The resource ID belongs to another tenant (403). Never names that tenant: resource IDs are global, so
 * the caller only learns to pick another one.
 */
export class ResourceTakenError extends KeyplaneError {
  constructor(readonly resourceId: string) {
    super(403, 'resource_taken', `resource ID ${resourceId} is taken by another tenant; pick another resource ID`, {
      details: { resourceId },
    });
  }
}

/** SPEKE asked for a resource whose key is a static key (403): static keys never go out through SPEKE. */
export class StaticResourceError extends KeyplaneError {
  constructor(readonly resourceId: string) {
    super(
      403,
      'static_resource',
      `resource ID ${resourceId} is a static-key resource; static keys are never handed out through SPEKE`,
      { details: { resourceId } },
    );
  }
}

/** The thing asked for does not exist (404). */
export class NotFoundError extends KeyplaneError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

/** A credential that was valid but is no longer (410). */
export class GoneError extends KeyplaneError {
  constructor(message: string) {
    super(410, 'gone', message);
  }
}

/**
 * Another encryption process holds the resource ID (409, with `Retry-After`). The message names
 * the ways out; when the holder is the same caller it lists the lease's KIDs so a retry can reuse them.
 */
export class LeaseConflictError extends KeyplaneError {
  constructor(
    readonly resourceId: string,
    readonly expiresAt: Date,
    now: Date,
    /** The lease's KIDs when the caller itself holds the lease (a new KID, not a retry). */
    ownKids?: readonly string[],
  ) {
    const retryAfter = Math.max(1, Math.ceil((expiresAt.getTime() - now.getTime()) / 1000));
    const until = expiresAt.toISOString();
    const release = `release it (admin: keyplane lease release ${resourceId}, or DELETE /leases/{resourceId})`;
    const shown = ownKids?.slice(-5) ?? [];
    const kidList = `${shown.join(', ')}${ownKids && ownKids.length > shown.length ? ` (last ${shown.length} of ${ownKids.length})` : ''}`;
    const message = ownKids
      ? `Resource ID "${resourceId}" is in use until ${until}: this caller already holds the lease with KIDs ${kidList}; ` +
        `send the same KIDs to repeat (keyplane request-keys --kid <kid>), or use key rotation (ContentKeyPeriods), ` +
        `or ${release}, or wait until the lease ends`
      : `Resource ID "${resourceId}" is in use by another encryption process until ${until}; ` +
        `use a different resource ID, ${release}, or wait until the lease ends ` +
        `(only the holder's credential may repeat its request with the same KIDs)`;
    super(409, 'lease_conflict', message, {
      headers: { 'Retry-After': String(retryAfter) },
      details: { resourceId, leaseExpiresAt: until, ...(ownKids ? { sameCaller: true } : {}) },
    });
  }
}

/** A KID or static key that is already bound differently (409). */
export class ConflictError extends KeyplaneError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(409, 'conflict', message, { details });
  }
}

/** Body larger than the limit (413). */
export class PayloadTooLargeError extends KeyplaneError {
  constructor(limitBytes: number) {
    super(413, 'payload_too_large', `Request body exceeds the limit of ${limitBytes} bytes`);
  }
}

/** Wrong Content-Type (415). */
export class UnsupportedMediaTypeError extends KeyplaneError {
  constructor(expected: string, got: string | undefined) {
    super(415, 'unsupported_media_type', `Content-Type must be ${expected}; got ${got ?? 'none'}`);
  }
}

/** A body in a Content-Encoding we do not decode (415), naming it and the ones we do. */
export class UnsupportedContentEncodingError extends KeyplaneError {
  constructor(encoding: string | undefined) {
    const named = encoding === undefined ? 'this one' : `"${encoding.slice(0, 40)}"`;
    super(
      415,
      'unsupported_media_type',
      `Content-Encoding ${named} is not supported; send identity, gzip, deflate or br`,
    );
  }
}

/** A dependency (store, KMS) is unavailable; the client should retry (503). */
export class ServiceUnavailableError extends KeyplaneError {
  constructor(message: string, retryAfterSeconds = 5, cause?: unknown) {
    super(503, 'unavailable', message, { headers: { 'Retry-After': String(retryAfterSeconds) }, cause });
  }
}

/**
 * The environment (or a file it points to) is wrong; thrown at start, never while serving.
 * The message starts with the variable so an operator can fix it at once: the server exits 2,
 * the CLI reports a usage error and Lambda answers "misconfigured". It lives here, not in
 * `config/`, so inner layers (e.g. the local master-key file) can raise it without importing config.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}
