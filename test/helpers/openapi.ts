import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Response } from 'supertest';
import { loadOpenApi } from '../../src/http/public-routes';

const SPEC_ID = 'https://keyplane.dev/openapi.json';

type Json = Record<string, unknown>;

const spec = loadOpenApi() as Json;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('binary', true);
ajv.addSchema({ ...spec, $id: SPEC_ID });

const pointer = (parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

function deref(obj: Json): [Json, string[]] {
  const ref = obj.$ref as string | undefined;
  if (!ref) return [obj, []];
  const parts = ref.replace(/^#\//, '').split('/');
  let cur: unknown = spec;
  for (const p of parts) cur = (cur as Json)[p];
  return [cur as Json, parts];
}

/** Asserts a real response matches the OpenAPI description of `method path` (status, content type, body schema). */
export function expectMatchesSpec(method: string, path: string, res: Response): void {
  const op = ((spec.paths as Json)[path] as Json | undefined)?.[method.toLowerCase()] as Json | undefined;
  if (!op) throw new Error(`OpenAPI has no operation ${method} ${path}`);
  const responses = op.responses as Json;
  const declared = responses[String(res.status)] as Json | undefined;
  if (!declared) throw new Error(`OpenAPI ${method} ${path} does not declare status ${res.status}`);
  const [response, refParts] = deref(declared);
  const content = response.content as Json | undefined;
  if (!content) {
    expect(res.text ?? '').toBe('');
    return;
  }
  const type = (res.headers['content-type'] ?? '').split(';')[0] as string;
  if (!(type in content)) throw new Error(`OpenAPI ${method} ${path} ${res.status} does not declare ${type}`);
  const base = refParts.length ? refParts : ['paths', path, method.toLowerCase(), 'responses', String(res.status)];
  const validate = ajv.getSchema(`${SPEC_ID}#/${pointer([...base, 'content', type, 'schema'])}`);
  if (!validate) throw new Error('schema not found');
  const body =
    type === 'application/json'
      ? res.body
      : type === 'application/octet-stream'
        ? 'x'.repeat((res.body as Buffer).length)
        : res.text;
  if (!validate(body)) throw new Error(`Response does not match OpenAPI: ${ajv.errorsText(validate.errors)}`);
}
