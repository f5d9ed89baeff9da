import { ConfigError } from '../../../src/errors';
import { boundedInteger, integer, oneOf, optional, parsed, processEnv, url } from '../../../src/config/env';

function errorOf(read: () => unknown): ConfigError {
  try {
    read();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config env getters', () => {
  it('treat unset and blank alike and trim values', () => {
    expect(optional({ A: '  ' }, 'A')).toBeUndefined();
    expect(optional({}, 'A')).toBeUndefined();
    expect(optional({ A: ' x ' }, 'A')).toBe('x');
  });

  it('read integers within bounds, naming the variable otherwise', () => {
    expect(integer({}, 'N', 7, 1, 10)).toBe(7);
    expect(integer({ N: ' 3 ' }, 'N', 7, 1, 10)).toBe(3);
    expect(errorOf(() => integer({ N: 'x' }, 'N', 7, 1, 10)).message).toBe('N: must be an integer, got "x"');
    expect(errorOf(() => integer({ N: '11' }, 'N', 7, 1, 10)).message).toBe('N: must be between 1 and 10, got 11');
    expect(errorOf(() => boundedInteger({ N: '0' }, 'N', 7, 1, 10)).message).toBe(
      'N: must be an integer from 1 to 10, got "0"',
    );
  });

  it('read URLs, words and parsed values, naming the variable on error', () => {
    expect(url({ U: 'https://a.test/x/' }, 'U')).toBe('https://a.test/x');
    expect(url({}, 'U', 'http://b.test')).toBe('http://b.test');
    expect(errorOf(() => url({ U: 'ftp://a.test' }, 'U')).variable).toBe('U');
    expect(oneOf({}, 'W', ['a', 'b'] as const, 'a')).toBe('a');
    expect(errorOf(() => oneOf({ W: 'c' }, 'W', ['a', 'b'] as const, 'a')).message).toBe(
      'W: must be one of a, b, got "c"',
    );
    expect(parsed({ P: '2' }, 'P', Number)).toBe(2);
    const err = errorOf(() =>
      parsed({ P: 'bad' }, 'P', () => {
        throw new Error('is bad');
      }),
    );
    expect(err.message).toBe('P: is bad');
  });

  it('reads the process environment', () => {
    expect(processEnv()).toBe(process.env);
  });
});
