/**
 * XML Schema validation of SPEKE v2 documents with `xmllint --schema` (libxml2-utils), against
 * the DASH-IF CPIX XSDs. When xmllint or the XSDs are missing, validation reports itself
 * unavailable and the schema checks are skipped with that reason.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Result of validating one document. */
type XsdResult = { valid: true } | { valid: false; errors: string };

/** Validates CPIX documents, or says why it cannot. */
export interface XsdValidator {
  /** Undefined when validation can run; otherwise the reason it cannot. */
  unavailable?: string;
  validate(xml: string, schema: 'cpix-2.3' | 'cpix-2.4'): XsdResult;
}

function xmllintMissing(xmllint: string): string | undefined {
  const probe = spawnSync(xmllint, ['--version'], { encoding: 'utf8' });
  if (probe.error) return `xmllint not found ("${xmllint}"); install libxml2-utils to run the XSD checks`;
  return undefined;
}

/** A validator that runs `xmllint --noout --nonet --schema <xsdDir>/<schema>/cpix.xsd -`. */
export function createXsdValidator(xsdDir: string, xmllint = 'xmllint'): XsdValidator {
  const schemaFile = (schema: string) => path.join(xsdDir, schema, 'cpix.xsd');
  const unavailable =
    xmllintMissing(xmllint) ??
    (fs.existsSync(schemaFile('cpix-2.3')) ? undefined : `no CPIX XSD at ${schemaFile('cpix-2.3')}; pass --xsd-dir`);
  return {
    unavailable,
    validate(xml, schema) {
      const run = spawnSync(xmllint, ['--noout', '--nonet', '--schema', schemaFile(schema), '-'], {
        input: xml,
        encoding: 'utf8',
      });
      if (run.status === 0) return { valid: true };
      const errors = (run.stderr || run.stdout || `xmllint exited ${run.status}`)
        .split('\n')
        .filter((l) => l.trim() !== '' && !/validates$|fails to validate$/.test(l))
        .slice(0, 3)
        .join('; ');
      return { valid: false, errors };
    },
  };
}
