import { ConfigError, describeConfig, loadConfig } from '../../../src/config';
import { loadWorkers } from '../../../src/config/workers';

describe('KEYPLANE_WORKERS', () => {
  it('defaults to one process, and shows in the start summary', () => {
    const config = loadConfig({});
    expect(config.workers).toBe(1);
    expect(describeConfig(config).workers).toBe(1);
  });

  it('takes a whole number, or auto for one per core', () => {
    expect(loadWorkers({ KEYPLANE_WORKERS: '4' })).toBe(4);
    expect(loadWorkers({ KEYPLANE_WORKERS: 'auto' }, () => 3)).toBe(3);
    expect(loadWorkers({ KEYPLANE_WORKERS: 'auto' }, () => 0)).toBe(1);
  });

  it.each(['0', '-1', '1.5', 'two', '257', '02'])('refuses %s, naming the variable', (value) => {
    expect(() => loadConfig({ KEYPLANE_WORKERS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYPLANE_WORKERS: value })).toThrow(/KEYPLANE_WORKERS/);
  });
});
