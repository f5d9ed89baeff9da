import { optional, url, type Env } from './env';

/** Where the AWS clients go (`AWS_REGION`, `KEYPLANE_AWS_ENDPOINT`) and the deployment name KMS binds keys to. */
export interface AwsConfig {
  /** moto or LocalStack; absent: the real AWS endpoints. */
  awsEndpoint?: string;
  awsRegion: string;
  /** Names this deployment in the KMS encryption context (`KEYPLANE_DEPLOYMENT`). */
  deployment: string;
}

/** Reads the AWS variables; the region falls back to `AWS_DEFAULT_REGION`, then us-east-1. */
export function loadAwsConfig(env: Env): AwsConfig {
  return {
    awsEndpoint: url(env, 'KEYPLANE_AWS_ENDPOINT'),
    awsRegion: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION') ?? 'us-east-1',
    deployment: optional(env, 'KEYPLANE_DEPLOYMENT') ?? 'keyplane',
  };
}
