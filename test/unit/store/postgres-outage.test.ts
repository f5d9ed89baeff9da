import { ServiceUnavailableError } from '../../../src/errors';
import { postgresOutage } from '../../../src/store/postgres/errors';

/** A driver error as node-postgres raises it: a message and a SQLSTATE or socket code. */
const pgError = (code: string | undefined, message = 'boom') => Object.assign(new Error(message), { code });

describe('postgresOutage: which PostgreSQL failures are a 503', () => {
  it.each([
    ['57P01', '2'], // admin shutdown (server restarting)
    ['57P03', '2'], // cannot connect now (starting up, recovering)
    ['08006', '2'], // connection failure
    ['08001', '2'], // cannot establish connection
    ['53300', '2'], // too many connections
    ['53100', '2'], // disk full
    ['58030', '2'], // I/O error
    ['28P01', '2'], // password authentication failed
    ['3D000', '2'], // database does not exist
    ['40001', '1'], // serialization failure
    ['40P01', '1'], // deadlock detected
    ['57014', '1'], // statement timeout
    ['ECONNREFUSED', '2'],
    ['ECONNRESET', '2'],
    ['ENOENT', '2'], // unix socket gone
  ])('%s → 503 with Retry-After %s, naming only the code', (code, retryAfter) => {
    const mapped = postgresOutage(pgError(code, 'password authentication failed for user "keyplane"'));
    expect(mapped).toBeInstanceOf(ServiceUnavailableError);
    expect(mapped?.headers).toEqual({ 'Retry-After': retryAfter });
    expect(mapped?.message).toContain(code);
    expect(mapped?.message).not.toContain('keyplane"');
  });

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'timeout exceeded when trying to connect',
    'Query read timeout',
    'Client has encountered a connection error and is not queryable',
    'Cannot use a pool after calling end on the pool',
  ])('the driver\'s "%s" (no code) → 503', (message) => {
    expect(postgresOutage(pgError(undefined, message))).toBeInstanceOf(ServiceUnavailableError);
  });

  it.each([
    ['23505', 'duplicate key value violates unique constraint'], // a constraint we did not expect: our bug
    ['42P01', 'relation "keys" does not exist'],
    ['22P02', 'invalid input syntax'],
    [undefined, 'something else'],
  ])('leaves %s (%s) to propagate as the bug it is', (code, message) => {
    expect(postgresOutage(pgError(code, message))).toBeUndefined();
  });

  it('leaves non-objects alone', () => {
    expect(postgresOutage('ECONNREFUSED')).toBeUndefined();
    expect(postgresOutage(null)).toBeUndefined();
  });
});
