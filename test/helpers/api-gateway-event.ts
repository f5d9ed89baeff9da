import crypto from 'node:crypto';

/** `requestContext.identity` of a REST API (v1) proxy event; all null but the source when the method has no IAM auth. */
export interface ApiGatewayIdentity {
  cognitoIdentityPoolId: string | null;
  accountId: string | null;
  cognitoIdentityId: string | null;
  caller: string | null;
  sourceIp: string;
  principalOrgId: string | null;
  accessKey: string | null;
  cognitoAuthenticationType: string | null;
  cognitoAuthenticationProvider: string | null;
  userArn: string | null;
  userAgent: string;
  user: string | null;
}

/** An API Gateway REST API (v1) Lambda proxy event, as API Gateway sends it. */
export interface ApiGatewayProxyEvent {
  resource: string;
  path: string;
  httpMethod: string;
  headers: Record<string, string> | null;
  multiValueHeaders: Record<string, string[]> | null;
  queryStringParameters: Record<string, string> | null;
  multiValueQueryStringParameters: Record<string, string[]> | null;
  pathParameters: Record<string, string> | null;
  stageVariables: Record<string, string> | null;
  requestContext: {
    resourceId: string;
    resourcePath: string;
    httpMethod: string;
    extendedRequestId: string;
    requestTime: string;
    path: string;
    accountId: string;
    protocol: string;
    stage: string;
    domainPrefix: string;
    requestTimeEpoch: number;
    requestId: string;
    identity: ApiGatewayIdentity;
    domainName: string;
    deploymentId: string;
    apiId: string;
    authorizer?: Record<string, unknown>;
  };
  body: string | null;
  isBase64Encoded: boolean;
}

/** An IAM caller as API Gateway reports it after checking the SigV4 signature. */
export interface IamCaller {
  /** e.g. `arn:aws:sts::123456789012:assumed-role/KeyplaneMediaConvert/job-1` */
  userArn: string;
  /** `<role id>:<session>` for assumed roles. */
  caller: string;
  accessKey: string;
  accountId: string;
}

/** What a test asks for; everything else is filled as API Gateway would. */
export interface EventSpec {
  method: string;
  /** Path without the stage, e.g. `/copyProtection`. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Set when the method uses `AWS_IAM` authorization. */
  iam?: IamCaller;
  stage?: string;
}

const API_ID = 'kp7x2abcde';
const ACCOUNT = '123456789012';
const USER_AGENT = 'AWSElementalMediaConvert/1.0';

/** An assumed-role caller as MediaConvert appears when it signs with the role `roleName`. */
export function assumedRoleCaller(roleName: string, session = 'MediaConvertSession'): IamCaller {
  const roleId = `AROA${crypto.createHash('sha256').update(roleName).digest('hex').slice(0, 17).toUpperCase()}`;
  return {
    userArn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/${session}`,
    caller: `${roleId}:${session}`,
    accessKey: `ASIA${crypto.randomBytes(8).toString('hex').toUpperCase()}`,
    accountId: ACCOUNT,
  };
}

function identityOf(iam: IamCaller | undefined): ApiGatewayIdentity {
  return {
    cognitoIdentityPoolId: null,
    accountId: iam?.accountId ?? null,
    cognitoIdentityId: null,
    caller: iam?.caller ?? null,
    sourceIp: '203.0.113.17',
    principalOrgId: null,
    accessKey: iam?.accessKey ?? null,
    cognitoAuthenticationType: null,
    cognitoAuthenticationProvider: null,
    userArn: iam?.userArn ?? null,
    userAgent: USER_AGENT,
    user: iam?.caller ?? null,
  };
}

/** API Gateway's resource for a path under serverless.yml's routes: `/copyProtection` or the proxy. */
function resourceOf(path: string): { resource: string; pathParameters: Record<string, string> | null } {
  if (path === '/copyProtection') return { resource: '/copyProtection', pathParameters: null };
  return { resource: '/{proxy+}', pathParameters: { proxy: path.replace(/^\//, '') } };
}

/** `23/Nov/2026:09:13:08 +0000`, API Gateway's `requestTime` format. */
function requestTime(now: Date): string {
  const [, day, month, year, time] = now.toUTCString().split(' ');
  return `${day}/${month}/${year}:${time} +0000`;
}

function sigV4Headers(iam: IamCaller, host: string): Record<string, string> {
  const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  return {
    Authorization:
      `AWS4-HMAC-SHA256 Credential=${iam.accessKey}/${date.slice(0, 8)}/us-east-1/execute-api/aws4_request, ` +
      `SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=${crypto.randomBytes(32).toString('hex')}`,
    'X-Amz-Date': date,
    'X-Amz-Security-Token': crypto.randomBytes(48).toString('base64'),
    Host: host,
  };
}

/**
 * A REST API (v1) proxy event for `spec`. Bodies arrive base64-encoded (`isBase64Encoded: true`),
 * as they do with serverless.yml's `binaryMediaTypes: ['*\/*']`.
 */
export function restApiEvent(spec: EventSpec): ApiGatewayProxyEvent {
  const stage = spec.stage ?? 'prod';
  const domainName = `${API_ID}.execute-api.us-east-1.amazonaws.com`;
  const headers: Record<string, string> = {
    Accept: '*/*',
    Host: domainName,
    'User-Agent': USER_AGENT,
    'X-Amzn-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${crypto.randomBytes(12).toString('hex')}`,
    'X-Forwarded-For': '203.0.113.17',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
    ...(spec.iam ? sigV4Headers(spec.iam, domainName) : {}),
    ...spec.headers,
  };
  const { resource, pathParameters } = resourceOf(spec.path);
  const now = new Date();
  const body = spec.body === undefined ? null : Buffer.from(spec.body).toString('base64');
  return {
    resource,
    path: spec.path,
    httpMethod: spec.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters,
    stageVariables: null,
    requestContext: {
      resourceId: crypto.randomBytes(3).toString('hex'),
      resourcePath: resource,
      httpMethod: spec.method,
      extendedRequestId: crypto.randomBytes(8).toString('base64url'),
      requestTime: requestTime(now),
      path: `/${stage}${spec.path}`,
      accountId: ACCOUNT,
      protocol: 'HTTP/1.1',
      stage,
      domainPrefix: API_ID,
      requestTimeEpoch: now.getTime(),
      requestId: crypto.randomUUID(),
      identity: identityOf(spec.iam),
      domainName,
      deploymentId: 'abc123',
      apiId: API_ID,
    },
    body,
    isBase64Encoded: body !== null,
  };
}
