import request from 'supertest';
import { NS } from '../../src/cpix/namespaces';
import { parseXml } from '../../src/cpix/xml-parse';
import { findAll } from '../helpers/cpix';
import { fixture } from '../helpers/fixtures';
import { runHostileRounds, startHostileTarget } from '../helpers/hostile-input';
import { reportFigures } from '../helpers/report';
import { makeTestApp } from '../helpers/test-app';

const ROUNDS = 3;

describe('hostile input against the server process', () => {
  it('answers XXE, billion laughs, 10 MB bodies, deep nesting and invalid UTF-8 with a small 4xx, memory flat', async () => {
    const { target, xxeHits, stop } = await startHostileTarget();
    try {
      const figures = await runHostileRounds(target, ROUNDS, xxeHits);
      reportFigures('hostile-input-quick', { ...figures });
      expect(figures.xxeFetches).toBe(0);
      expect(figures.maxResponseBytes).toBeLessThan(4096);
      expect(figures.rssKiBAfter - figures.rssKiBBefore).toBeLessThan(100 * 1024);
    } finally {
      await stop();
    }
  });
});

describe('namespace URIs are data, never markup', () => {
  it('echoes a namespace URI that looks like XML, JSON or YAML instead of importing it', async () => {
    const t = await makeTestApp();
    try {
      const body = fixture('v1/hls-single-key.xml').replace(
        'xmlns:speke="urn:aws:amazon:com:speke"',
        'xmlns:speke="urn:aws:amazon:com:speke" xmlns:a="&lt;pskc:PlainValue&gt;AAAA&lt;/pskc:PlainValue&gt;" ' +
          'xmlns:b="[1]" xmlns:c="{}" xmlns:d="#---"',
      );
      const res = await request(t.app)
        .post('/copyProtection')
        .set('x-api-key', t.encoderKey)
        .set('content-type', 'application/xml')
        .send(body);
      expect(res.status).toBe(200);
      expect(res.text).toContain('xmlns:a="&lt;pskc:PlainValue&gt;AAAA&lt;/pskc:PlainValue&gt;"');
      expect(findAll(parseXml(res.text), NS.pskc, 'PlainValue')).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});
