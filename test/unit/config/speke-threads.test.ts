import os from 'node:os';
import { ConfigError, describeConfig, loadConfig } from '../../../src/config';

describe('KEYPLANE_SPEKE_THREADS', () => {
  it('defaults to one thread when there is a second core, none on one core', () => {
    const expected = os.availableParallelism() > 1 ? 1 : 0;
    expect(loadConfig({}).spekeThreads).toBe(expected);
    expect(loadConfig({ KEYPLANE_SPEKE_THREADS: 'auto' }).spekeThreads).toBe(expected);
    expect(describeConfig(loadConfig({ KEYPLANE_SPEKE_THREADS: '3' })).spekeThreads).toBe(3);
    expect(loadConfig({ KEYPLANE_SPEKE_THREADS: '0' }).spekeThreads).toBe(0);
  });

  it.each(['-1', '17', 'two', '1.5'])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ KEYPLANE_SPEKE_THREADS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYPLANE_SPEKE_THREADS: value })).toThrow(/KEYPLANE_SPEKE_THREADS/);
  });
});
