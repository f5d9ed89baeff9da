import { createClearKey } from '../../../src/drm/clearkey';
import { commonPssh } from '../../../src/drm/common-pssh';
import { at, decodePssh, parseFragment } from './decoders';
import { makeContext, SETTINGS } from './context';

const CLEARKEY = 'e2719d58-a985-b3c9-781a-b030af78d30e';
const COMMON = '1077efec-c0b2-4d02-ace3-3c1e52e2fb4b';
const clearkey = createClearKey(SETTINGS);

describe('ClearKey DRM system', () => {
  it('v1: a version 1 pssh listing the KID with no data, nothing else', () => {
    const signal = clearkey.signal(makeContext({ spekeVersion: 'v1' }));
    expect(Object.keys(signal)).toEqual(['pssh']);
    const box = signal.pssh as Buffer;
    expect(box.readUInt32BE(28)).toBe(1);
    expect(decodePssh(box)).toMatchObject({
      size: 52,
      version: 1,
      flags: 0,
      systemId: CLEARKEY,
      kids: ['98ee5596-cd3e-a20d-163a-e382420c6eff'],
      dataSize: 0,
    });
  });

  it('v2: <clearkey:Laurl Lic_type="EME-1.0"> and <dashif:laurl>, URL XML-escaped, and no <cenc:pssh>', () => {
    const signal = clearkey.signal(makeContext({ kid: '00000000-0000-0000-0000-0000000000aa' }));
    const cpd = signal.contentProtectionData ?? '';
    expect(cpd).not.toContain('&x=<y>');
    const frag = parseFragment(cpd);

    // The pssh box stays in cpix:PSSH for packagers; the MPD's Clear Key element carries only the license URL.
    expect(cpd).not.toContain('pssh');
    expect(decodePssh(signal.pssh as Buffer).kids).toEqual(['00000000-0000-0000-0000-0000000000aa']);

    const legacy = at(frag, 'clearkey:Laurl');
    expect(legacy['@_xmlns:clearkey']).toBe('http://dashif.org/guidelines/clearKey');
    expect(legacy['@_Lic_type']).toBe('EME-1.0');
    expect(legacy['#text']).toBe(SETTINGS.clearkeyLicenseUrl);

    const laurl = at(frag, 'dashif:laurl');
    expect(laurl['@_xmlns:dashif']).toBe('https://dashif.org/CPS');
    expect(laurl['#text']).toBe(SETTINGS.clearkeyLicenseUrl);
  });

  it('accepts any scheme', () => {
    expect(clearkey.schemes).toBeUndefined();
    expect(clearkey.systemIds).toEqual([CLEARKEY]);
  });
});

describe('Common PSSH system', () => {
  it('v1: a version 1 pssh with the KID and no data', () => {
    const signal = commonPssh.signal(makeContext({ spekeVersion: 'v1' }));
    expect(Object.keys(signal)).toEqual(['pssh']);
    expect(decodePssh(signal.pssh as Buffer)).toMatchObject({
      version: 1,
      systemId: COMMON,
      kids: ['98ee5596-cd3e-a20d-163a-e382420c6eff'],
      dataSize: 0,
    });
  });

  it('v2: adds <cenc:pssh> with the same box, as in the AWS reference server', () => {
    const signal = commonPssh.signal(makeContext({ kid: 'e82f184c-3aaa-57b4-ace8-606b5e3febad' }));
    // The published Unified Streaming example for this KID (see pssh.test.ts).
    expect((signal.pssh as Buffer).toString('base64')).toBe(
      'AAAANHBzc2gBAAAAEHfv7MCyTQKs4zweUuL7SwAAAAHoLxhMOqpXtKzoYGteP+utAAAAAA==',
    );
    const el = at(parseFragment(signal.contentProtectionData ?? ''), 'cenc:pssh');
    expect(el['@_xmlns:cenc']).toBe('urn:mpeg:cenc:2013');
    expect(el['#text']).toBe((signal.pssh as Buffer).toString('base64'));
  });
});
