import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTableInput } from '../../src/store/dynamodb';
import { ROOT } from '../helpers/paths';

// One `serverless package` and one `osls package` run for the whole file (a few seconds each): offline, no AWS credentials,
// into a temporary --package folder. Where `unshare` may create a network namespace, the run has no
// network at all, which proves it calls no AWS API.

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: unknown;
}
interface Resource {
  Type: string;
  Properties: Json;
  DeletionPolicy?: string;
}

const STAGE = 'prod';
const REGION = 'eu-west-1';
const MAX_ZIP_BYTES = 1.5 * 1024 * 1024;
let outDir = '';
let template: {
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: unknown }>;
  Conditions?: Record<string, unknown>;
};

function canUnshareNetwork(): boolean {
  return spawnSync('unshare', ['-rn', 'true'], { stdio: 'ignore' }).status === 0;
}

/** Whether `serverless package` runs in a user+network namespace with no interfaces but loopback-down. */
const OFFLINE = canUnshareNetwork();

/** An environment with no AWS credentials or profile, an empty HOME, and the framework's phone-home off. */
function isolatedEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/** Parameters a production deployment passes (README "Deploy to AWS"): secret names, never values. */
const PARAMS = {
  tokenSigningKeysSecret: `keyplane/${STAGE}/token-signing-keys`,
  secureLinkClientId: 'cdn1',
  secureLinkSecret: `keyplane/${STAGE}/secure-link-secret`,
  sigv4CredentialsSecret: `keyplane/${STAGE}/sigv4-credentials`,
  sessionSecret: `keyplane/${STAGE}/session-secret`,
  iamTenants: 'arn:aws:sts::123456789012:assumed-role/AcmeEncoder/*=acme',
};

type Template = typeof template;

/** Runs `<cli> package` offline into its own folder and returns the CloudFormation template. */
async function packageWith(cliScript: string, name: string, params: Record<string, string>): Promise<Template> {
  const home = path.join(outDir, `home-${name}`);
  fs.mkdirSync(home);
  const cli = [
    path.join(ROOT, cliScript),
    'package',
    ...['--stage', STAGE, '--region', REGION, '--package', path.join(outDir, name)],
    ...Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]),
  ];
  const [command, args] = OFFLINE ? ['unshare', ['-rn', process.execPath, ...cli]] : [process.execPath, cli];
  await promisify(execFile)(command, args as string[], { cwd: ROOT, env: isolatedEnv(home), timeout: 180_000 });
  return JSON.parse(fs.readFileSync(path.join(outDir, name, 'cloudformation-template-update-stack.json'), 'utf8'));
}

/** The osls (MIT fork of Serverless Framework v3) template, packaged without any parameter. */
let oslsTemplate: Template;

beforeAll(async () => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sls-'));
  // One after the other: serverless-esbuild builds in the project's .esbuild/ folder.
  template = await packageWith('node_modules/serverless/bin/serverless.js', 'package', PARAMS);
  oslsTemplate = await packageWith('node_modules/osls/bin/serverless.js', 'osls', {});
}, 400_000);

afterAll(() => {
  fs.rmSync(outDir, { recursive: true, force: true });
});

function resourcesOfType(type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

function onlyResource(type: string): [string, Resource] {
  const found = resourcesOfType(type);
  expect(found).toHaveLength(1);
  return found[0] as [string, Resource];
}

function actions(statement: Statement): string[] {
  return ([] as string[]).concat(statement.Action);
}

/** Every permission statement in IAM roles and policies, with the name of the resource holding it. */
function iamStatements(): { owner: string; statement: Statement }[] {
  const out: { owner: string; statement: Statement }[] = [];
  for (const [name, r] of Object.entries(template.Resources)) {
    const documents =
      r.Type === 'AWS::IAM::Role'
        ? ((r.Properties.Policies as { PolicyDocument: Json }[] | undefined) ?? []).map((p) => p.PolicyDocument)
        : ['AWS::IAM::ManagedPolicy', 'AWS::IAM::Policy'].includes(r.Type)
          ? [r.Properties.PolicyDocument as Json]
          : [];
    for (const doc of documents) {
      for (const statement of doc.Statement as Statement[]) out.push({ owner: name, statement });
    }
  }
  return out;
}

/** Names of the entries of a zip file, from its central directory. */
function zipEntries(file: string): string[] {
  const zip = fs.readFileSync(file);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const nameLength = zip.readUInt16LE(at + 28);
    const skip = nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    names.push(zip.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + skip;
  }
  return names;
}

const ref = (name: string) => ({ Ref: name });
const arnOf = (name: string) => ({ 'Fn::GetAtt': [name, 'Arn'] });
const joined = (value: unknown): unknown[] => ((value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'] ?? [])[1];

describe('serverless package (offline, no AWS credentials)', () => {
  (OFFLINE ? it : it.skip)('packages with no network at all (inside `unshare -rn`), so it calls no AWS API', () => {
    expect(Object.keys(template.Resources).length).toBeGreaterThan(0);
  });

  it('puts AWS_IAM authorization on POST /copyProtection and leaves the rest to API keys in the app', () => {
    const [spekeResource] = resourcesOfType('AWS::ApiGateway::Resource').find(
      ([, r]) => r.Properties.PathPart === 'copyProtection',
    ) as [string, Resource];
    const methods = resourcesOfType('AWS::ApiGateway::Method').map(([, r]) => r.Properties);
    const speke = methods.find((m) => (m.ResourceId as { Ref?: string }).Ref === spekeResource);
    expect(speke).toMatchObject({ HttpMethod: 'POST', AuthorizationType: 'AWS_IAM' });
    expect(methods.filter((m) => m.AuthorizationType === 'AWS_IAM')).toHaveLength(1);
    expect(methods.filter((m) => m !== speke).every((m) => m.AuthorizationType === 'NONE')).toBe(true);
  });

  it('configures binary media types so key bytes leave API Gateway undecoded', () => {
    const [, api] = onlyResource('AWS::ApiGateway::RestApi');
    // API Gateway decodes a base64 body only when the caller's first Accept type is listed; players send */*.
    expect(api.Properties.BinaryMediaTypes).toEqual(expect.arrayContaining(['application/octet-stream', '*/*']));
  });

  it('declares the DynamoDB table like createTableInput(), with TTL on `ttl`, retained on delete', () => {
    const [, table] = onlyResource('AWS::DynamoDB::Table');
    const { BillingMode, AttributeDefinitions, KeySchema } = createTableInput('ignored');
    expect(table.Properties).toMatchObject({ BillingMode, AttributeDefinitions, KeySchema });
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(table.DeletionPolicy).toBe('Retain');
  });

  it('declares a rotating KMS key with alias alias/keyplane-<stage>, retained on delete', () => {
    const [keyName, key] = onlyResource('AWS::KMS::Key');
    expect(key.Properties).toMatchObject({ EnableKeyRotation: true, KeySpec: 'SYMMETRIC_DEFAULT' });
    expect(key.DeletionPolicy).toBe('Retain');
    const [, alias] = onlyResource('AWS::KMS::Alias');
    expect(alias.Properties).toEqual({ AliasName: `alias/keyplane-${STAGE}`, TargetKeyId: ref(keyName) });
  });

  it('runs the bundled handler on nodejs22.x arm64 with the AWS backends and no secret in the template', () => {
    const [, fn] = onlyResource('AWS::Lambda::Function');
    const [tableName] = onlyResource('AWS::DynamoDB::Table');
    const [keyName] = onlyResource('AWS::KMS::Key');
    expect(fn.Properties).toMatchObject({
      Handler: 'src/lambda.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
    });
    const vars = (fn.Properties.Environment as { Variables: Json }).Variables;
    // No --enable-source-maps: reading the map costs ~15 ms of every cold start (docs/benchmarks.md).
    expect(vars.NODE_OPTIONS).toBeUndefined();
    expect(vars).toMatchObject({
      KEYPLANE_STORE: 'dynamodb',
      KEYPLANE_TABLE: ref(tableName),
      KEYPLANE_KMS_KEY_ID: arnOf(keyName),
      // Only the admin key's hash: whoever reads the function's configuration gets nothing that opens it.
      KEYPLANE_ADMIN_KEY_SHA256: `{{resolve:ssm:/keyplane/${STAGE}/admin-key-sha256}}`,
    });
    expect(joined(vars.KEYPLANE_PUBLIC_URL)).toEqual([
      'https://',
      ref('ApiGatewayRestApi'),
      '.execute-api.',
      ref('AWS::Region'),
      '.',
      ref('AWS::URLSuffix'),
      `/${STAGE}`,
    ]);
  });

  it('grants the function only GenerateDataKey/Decrypt on its key and item operations on its table', () => {
    const [tableName] = onlyResource('AWS::DynamoDB::Table');
    const [keyName] = onlyResource('AWS::KMS::Key');
    const aws = iamStatements().filter(({ statement }) => actions(statement).some((a) => /^(kms|dynamodb):/.test(a)));
    expect(aws.length).toBeGreaterThan(0);
    for (const { statement } of aws) {
      expect(statement.Effect).toBe('Allow');
      expect(JSON.stringify(statement.Resource)).not.toContain('*');
    }
    const kms = aws.filter(({ statement }) => actions(statement).some((a) => a.startsWith('kms:')));
    expect(kms).toHaveLength(1);
    expect(actions(kms[0]?.statement as Statement).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kms[0]?.statement.Resource).toEqual(arnOf(keyName));
    // ...and only under this deployment's encryption context, the one the function is configured with.
    const [, fn] = onlyResource('AWS::Lambda::Function');
    const deployment = (fn.Properties.Environment as { Variables: Json }).Variables.KEYPLANE_DEPLOYMENT;
    expect(kms[0]?.statement.Condition).toEqual({
      StringEquals: { 'kms:EncryptionContext:app': 'keyplane', 'kms:EncryptionContext:deployment': deployment },
    });
    expect(deployment).toBe(`keyplane-${STAGE}`);
    const dynamo = aws.filter(({ statement }) => actions(statement).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    const allowed = [
      'GetItem',
      'PutItem',
      'UpdateItem',
      'DeleteItem',
      'Query',
      // The tenants migration and the export/import pages scan the table (see serverless.yml).
      'Scan',
      'BatchGetItem',
      'BatchWriteItem',
      'ConditionCheckItem',
      'DescribeTable',
    ];
    expect(actions(dynamo[0]?.statement as Statement).sort()).toEqual(allowed.map((a) => `dynamodb:${a}`).sort());
    expect(dynamo[0]?.statement.Resource).toEqual(arnOf(tableName));
  });

  it('declares a role MediaConvert can assume that may invoke the SPEKE route and nothing else', () => {
    const roles = resourcesOfType('AWS::IAM::Role').filter(([, r]) =>
      JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('mediaconvert.amazonaws.com'),
    );
    expect(roles).toHaveLength(1);
    const [roleName, role] = roles[0] as [string, Resource];
    const trust = (role.Properties.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;
    expect(trust).toEqual([
      { Effect: 'Allow', Principal: { Service: 'mediaconvert.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
    const managed = (role.Properties.ManagedPolicyArns as { Ref: string }[]).map((r) => r.Ref);
    const granted = iamStatements().filter(({ owner }) => owner === roleName || managed.includes(owner));
    expect(granted).toHaveLength(1);
    const { statement } = granted[0] as { statement: Statement };
    expect(statement).toMatchObject({ Effect: 'Allow', Action: 'execute-api:Invoke' });
    const arn = joined(statement.Resource);
    expect(arn).toContainEqual(ref('ApiGatewayRestApi'));
    expect(arn[arn.length - 1]).toBe(`/${STAGE}/POST/copyProtection`);
    expect(JSON.stringify(arn)).not.toContain('*');
    expect(template.Outputs.MediaConvertRoleArn?.Value).toEqual(arnOf(roleName));
  });

  it('outputs the SPEKE URL to paste into the encoder', () => {
    expect(joined(template.Outputs.SpekeUrl?.Value)).toEqual([
      'https://',
      ref('ApiGatewayRestApi'),
      '.execute-api.',
      ref('AWS::Region'),
      '.',
      ref('AWS::URLSuffix'),
      `/${STAGE}/copyProtection`,
    ]);
  });

  it('ships one small bundle with the OpenAPI file, without node_modules or native addons', () => {
    const zip = path.join(outDir, 'package/keyplane.zip');
    const entries = zipEntries(zip);
    expect(entries).toEqual(expect.arrayContaining(['src/lambda.js', 'openapi/openapi.yaml']));
    expect(entries.filter((e) => e.startsWith('node_modules/') || e.endsWith('.node'))).toEqual([]);
    expect(fs.statSync(zip).size).toBeLessThanOrEqual(MAX_ZIP_BYTES);
  });
  it('resolves each production secret from Secrets Manager at deploy time, by name only', () => {
    const [, fn] = onlyResource('AWS::Lambda::Function');
    const vars = (fn.Properties.Environment as { Variables: Json }).Variables;
    const wired: [string, string, string][] = [
      ['KEYPLANE_TOKEN_SIGNING_KEYS', 'HasTokenSigningKeys', PARAMS.tokenSigningKeysSecret],
      ['KEYPLANE_SECURE_TOKEN_SECRET', 'HasSecureLinkSecret', PARAMS.secureLinkSecret],
      ['KEYPLANE_SIGV4_CREDENTIALS', 'HasSigV4Credentials', PARAMS.sigv4CredentialsSecret],
      ['KEYPLANE_SESSION_SECRET', 'HasSessionSecret', PARAMS.sessionSecret],
    ];
    for (const [variable, condition, secret] of wired) {
      expect(vars[variable]).toEqual({
        'Fn::If': [
          condition,
          { 'Fn::Join': ['', ['{{resolve:secretsmanager:', secret, '}}']] },
          { Ref: 'AWS::NoValue' },
        ],
      });
      expect(template.Conditions?.[condition]).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [secret, ''] }] });
    }
    expect(vars.KEYPLANE_SECURE_TOKEN_CLIENT_ID).toBe(PARAMS.secureLinkClientId);
    // Not a secret: the IAM callers' tenants, as given.
    expect(vars.KEYPLANE_IAM_TENANTS).toBe(PARAMS.iamTenants);
  });

  it('packages the same stack with osls, and without parameters leaves every secret out', () => {
    // Between runs only the artifact's S3 key and the ids of the API deployment and the function version
    // (hashes of timestamps and of the environment) differ.
    const normalise = (t: Template) =>
      JSON.parse(
        JSON.stringify({ ...t, Conditions: undefined })
          .replace(/serverless\/keyplane\/prod\/[^"]+\/keyplane\.zip/g, 'ARTIFACT')
          .replace(/ApiGatewayDeployment\d+/g, 'ApiGatewayDeployment')
          .replace(/ApiLambdaVersion\w+/g, 'ApiLambdaVersion'),
      );
    const withoutEnv = (t: Template) => {
      const copy = normalise(t);
      delete copy.Resources.ApiLambdaFunction.Properties.Environment;
      return copy;
    };
    expect(withoutEnv(oslsTemplate)).toEqual(withoutEnv(template));
    for (const condition of Object.values(oslsTemplate.Conditions ?? {})) {
      expect(condition).toEqual({ 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] });
    }
    expect(Object.keys(oslsTemplate.Conditions ?? {})).toHaveLength(4);
    const vars = oslsTemplate.Resources.ApiLambdaFunction?.Properties.Environment as { Variables: Json };
    expect(vars.Variables.KEYPLANE_SECURE_TOKEN_CLIENT_ID).toBe('');
    expect(vars.Variables.KEYPLANE_IAM_TENANTS).toBe('');
  });
});
