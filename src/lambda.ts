import pino from 'pino';
import serverless from 'serverless-http';
import { createApp } from './compose/app';
import { apiGatewayIam } from './auth/api-gateway-iam';
import { awsBackends, checkStoreExists, MissingTableError } from './compose/backends';
import {
  ConfigError,
  describeConfig,
  loadConfig,
  processEnv,
  startFailureLogLevel,
  type Config,
  type Env,
} from './config';
import { createLogger, type Logger } from './logger';
import { buildDeps } from './compose/services';

/** Response content types API Gateway must receive base64-encoded (the 16 raw bytes of key delivery). */
const BINARY_MEDIA_TYPES = ['application/octet-stream'];

/** What the handler returns to an API Gateway REST API (v1) Lambda proxy integration. */
export interface LambdaProxyResult {
  statusCode: number;
  headers: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  body: string;
  isBase64Encoded: boolean;
}

/** A Lambda handler for API Gateway proxy events. */
type LambdaProxyHandler = (event: unknown, context: unknown) => Promise<LambdaProxyResult>;

/**
 * Lambda freezes the container once the handler returns, so a line still queued for an asynchronous write
 * would reach CloudWatch late (at the next invocation) or never: the Lambda logs synchronously.
 */
function lambdaLogger(level: string): Logger {
  return createLogger(level, pino.destination({ dest: 1, sync: true }));
}

/** Lambda has no durable disk: SQLite or a local master key would vanish with the container. */
function checkLambdaConfig(config: Config): void {
  if (config.store !== 'dynamodb') {
    throw new ConfigError('KEYPLANE_STORE', 'must be "dynamodb" on AWS Lambda (it has no durable disk for SQLite)');
  }
  if (config.kmsKeyId === undefined) {
    throw new ConfigError('KEYPLANE_KMS_KEY_ID', 'is required on AWS Lambda (a local master key would die with it)');
  }
}

/**
 * Builds the same Express app as `npm start`, wrapped for API Gateway: DynamoDB + KMS backends,
 * IAM callers (SigV4-authorized by API Gateway) as encoders, API keys for everything else.
 * Throws ConfigError naming the variable when the environment is wrong.
 */
export function createLambdaHandler(env: Env = processEnv()): LambdaProxyHandler {
  const config = loadConfig(env);
  checkLambdaConfig(config);
  const iam = apiGatewayIam(config.iamTenants);
  const logger = lambdaLogger(config.logLevel);
  // A Lambda answers one request at a time and is frozen in between: SPEKE stays in the event loop.
  const deps = buildDeps({ ...config, spekeThreads: 0 }, awsBackends(config), {
    logger,
    extraAuthenticators: [iam.authenticator],
  });
  const wrapped = serverless(createApp(deps), { binary: BINARY_MEDIA_TYPES, request: iam.capture });
  // The cold start's summary (table, region, KMS key; never secrets), as `npm start` logs it.
  deps.logger.info({ config: describeConfig(config) }, 'keyplane started');
  return async (event, context) => (await wrapped(event as object, (context ?? {}) as object)) as LambdaProxyResult;
}

/** The answer to every request while the container cannot start: 503 naming a missing table, 500 otherwise. */
function startFailure(err: unknown): LambdaProxyResult {
  // Config did not load, so honour only an explicit KEYPLANE_LOG_LEVEL=silent (tests); log everything else.
  lambdaLogger(startFailureLogLevel(processEnv())).fatal({ err }, 'keyplane failed to start');
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  };
  if (err instanceof MissingTableError) {
    // Not a crash loop: the next invocation checks again, so creating the table heals the function.
    const body = { error: 'unavailable', message: `Keyplane cannot start: ${err.message}` };
    return {
      statusCode: 503,
      headers: { ...headers, 'retry-after': '30' },
      body: JSON.stringify(body),
      isBase64Encoded: false,
    };
  }
  const body =
    err instanceof ConfigError
      ? { error: 'misconfigured', message: `Keyplane is misconfigured: ${err.message}` }
      : { error: 'internal', message: 'Keyplane failed to start; see the function log' };
  return { statusCode: 500, headers, body: JSON.stringify(body), isBase64Encoded: false };
}

let container: Promise<LambdaProxyHandler> | undefined;

/** Config, the table check and the app, once per container; a failure is forgotten so the next invocation retries. */
async function startContainer(): Promise<LambdaProxyHandler> {
  const env = processEnv();
  const config = loadConfig(env);
  checkLambdaConfig(config);
  await checkStoreExists(config);
  return createLambdaHandler(env);
}

/**
 * The Lambda entry point. Config, app and AWS clients are built on the first invocation and
 * reused by every later one in the container; a failed start is retried on the next invocation.
 */
export async function handler(event: unknown, context: unknown): Promise<LambdaProxyResult> {
  let app: LambdaProxyHandler;
  try {
    app = await (container ??= startContainer());
  } catch (err) {
    container = undefined;
    return startFailure(err);
  }
  return app(event, context);
}
