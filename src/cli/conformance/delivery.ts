/**
 * The certificate and private key the encrypted-response checks ask keys to be encrypted for:
 * `--cert/--key` when given; inside the repository, the committed throw-away test certificate;
 * else a fresh self-signed RSA-2048 certificate from openssl; else the checks are skipped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../cli-errors';
import { readCertificateDer, readPrivateKey } from '../cli-input';
import { packageRoot } from '../package-root';
import type { DeliveryMaterial } from './check';

function fromFiles(cert: string, key: string, source: string): DeliveryMaterial {
  return { available: true, certificateDer: readCertificateDer(cert), privateKey: readPrivateKey(key), source };
}

function repositoryCertificate(): DeliveryMaterial | undefined {
  const root = packageRoot();
  const dir = root && path.join(root, 'test', 'fixtures', 'certs');
  if (!dir || !fs.existsSync(path.join(dir, 'delivery.pem')) || !fs.existsSync(path.join(dir, 'delivery-key.pem')))
    return undefined;
  return fromFiles(path.join(dir, 'delivery.pem'), path.join(dir, 'delivery-key.pem'), 'repository test certificate');
}

function opensslCertificate(): DeliveryMaterial | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-cert-'));
  try {
    const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2'];
    const run = spawnSync('openssl', [...args, '-subj', '/CN=keyplane conformance'], { encoding: 'utf8' });
    if (run.error || run.status !== 0) return undefined;
    return fromFiles(cert, key, 'self-signed certificate from openssl');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves the delivery material from the options, the repository, or openssl. */
export function resolveDelivery(cert?: string, key?: string): DeliveryMaterial {
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError('--cert and --key go together (certificate and its private key)');
  if (cert !== undefined && key !== undefined) return fromFiles(cert, key, cert);
  return (
    repositoryCertificate() ??
    opensslCertificate() ?? {
      available: false,
      reason: 'no delivery certificate: pass --cert and --key (openssl was not found to make one)',
    }
  );
}
