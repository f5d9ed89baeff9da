import os from 'node:os';
import { ConfigError, describeConfig, loadConfig } from '../../../src/config';
import { loadThreadsConfig } from '../../../src/config/threads';

describe('KEYPLANE_SPEKE_THREADS and the writer thread', () => {
  it('defaults to one SPEKE thread, for every document and with audit on the writer thread when a core is free', () => {
    const free = os.availableParallelism() > 1;
    expect(loadConfig({})).toMatchObject({
      spekeThreads: 1,
      spekeSmallOnThreads: free,
      sqliteWriterThread: free ? 'keys and audit' : 'keys',
    });
    expect(loadConfig({ KEYPLANE_SPEKE_THREADS: 'auto' }).spekeThreads).toBe(1);
    expect(describeConfig(loadConfig({ KEYPLANE_SPEKE_THREADS: '3' })).spekeThreads).toBe(3);
    expect(loadConfig({ KEYPLANE_SPEKE_THREADS: '0' }).spekeThreads).toBe(0);
  });

  it('keeps small documents and audit appends in the loop when the workers take every core', () => {
    const cores = () => 4;
    const free = { spekeThreads: 1, spekeSmallOnThreads: true, sqliteWriterThread: 'keys and audit' };
    const taken = { spekeThreads: 1, spekeSmallOnThreads: false, sqliteWriterThread: 'keys' };
    expect(loadThreadsConfig({}, 1, cores)).toEqual(free);
    expect(loadThreadsConfig({}, 3, cores)).toEqual(free);
    expect(loadThreadsConfig({}, 4, cores)).toEqual(taken);
    expect(loadThreadsConfig({}, 8, cores)).toEqual(taken);
    expect(loadThreadsConfig({}, 1, () => 1)).toEqual(taken);
  });

  it('keeps an explicit thread count whatever the workers', () => {
    expect(loadThreadsConfig({ KEYPLANE_SPEKE_THREADS: '2' }, 4, () => 4).spekeThreads).toBe(2);
    expect(loadThreadsConfig({ KEYPLANE_SPEKE_THREADS: '0' }, 1, () => 4).spekeThreads).toBe(0);
  });

  it('follows --workers auto through loadConfig', () => {
    const config = loadConfig({ KEYPLANE_WORKERS: 'auto' });
    expect(config.workers).toBe(os.availableParallelism());
    expect(describeConfig(config)).toMatchObject({
      spekeThreads: 1,
      spekeSmallOnThreads: false,
      sqliteWriterThread: 'keys',
    });
  });

  it.each(['-1', '17', 'two', '1.5'])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ KEYPLANE_SPEKE_THREADS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYPLANE_SPEKE_THREADS: value })).toThrow(/KEYPLANE_SPEKE_THREADS/);
  });
});
