import os from 'node:os';
import { ConfigError, describeConfig, loadConfig } from '../../../src/config';
import { loadThreadsConfig } from '../../../src/config/threads';

describe('KEYPLANE_SPEKE_THREADS and the writer thread', () => {
  it('defaults to one SPEKE thread and the writer thread when a core is free, none on one core', () => {
    const free = os.availableParallelism() > 1;
    expect(loadConfig({}).spekeThreads).toBe(free ? 1 : 0);
    expect(loadConfig({}).sqliteWriterThread).toBe(free);
    expect(loadConfig({ KEYPLANE_SPEKE_THREADS: 'auto' }).spekeThreads).toBe(free ? 1 : 0);
    expect(describeConfig(loadConfig({ KEYPLANE_SPEKE_THREADS: '3' })).spekeThreads).toBe(3);
    expect(loadConfig({ KEYPLANE_SPEKE_THREADS: '0' }).spekeThreads).toBe(0);
  });

  it('leaves the threads out when the workers take every core', () => {
    const cores = () => 4;
    expect(loadThreadsConfig({}, 1, cores)).toEqual({ spekeThreads: 1, sqliteWriterThread: true });
    expect(loadThreadsConfig({}, 3, cores)).toEqual({ spekeThreads: 1, sqliteWriterThread: true });
    expect(loadThreadsConfig({}, 4, cores)).toEqual({ spekeThreads: 0, sqliteWriterThread: false });
    expect(loadThreadsConfig({}, 8, cores)).toEqual({ spekeThreads: 0, sqliteWriterThread: false });
    expect(loadThreadsConfig({}, 1, () => 1)).toEqual({ spekeThreads: 0, sqliteWriterThread: false });
  });

  it('keeps an explicit thread count whatever the workers', () => {
    expect(loadThreadsConfig({ KEYPLANE_SPEKE_THREADS: '2' }, 4, () => 4).spekeThreads).toBe(2);
    expect(loadThreadsConfig({ KEYPLANE_SPEKE_THREADS: '0' }, 1, () => 4).spekeThreads).toBe(0);
  });

  it('follows --workers auto through loadConfig', () => {
    const config = loadConfig({ KEYPLANE_WORKERS: 'auto' });
    expect(config.workers).toBe(os.availableParallelism());
    expect(config.spekeThreads).toBe(0);
    expect(describeConfig(config).sqliteWriterThread).toBe(false);
  });

  it.each(['-1', '17', 'two', '1.5'])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ KEYPLANE_SPEKE_THREADS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYPLANE_SPEKE_THREADS: value })).toThrow(/KEYPLANE_SPEKE_THREADS/);
  });
});
