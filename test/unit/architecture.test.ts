/**
 * The house rules that a reviewer would otherwise have to check by eye, as tests: the inner layers
 * stay independent of the web framework and of the composition code, and no source file grows past
 * 300 lines. Each failure lists every offending file (and import), so a fix can start from it.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SRC = path.join(ROOT, 'src');

/** Inner layers: domain logic that must run without Express, HTTP routing or start-up wiring. */
const INNER_DIRS = ['auth', 'keys', 'store', 'cpix', 'drm', 'domain', 'hls', 'audit'].map((d) => `src/${d}/`);

/** Outer-layer folders an inner layer must not reach into. */
const FORBIDDEN_DIRS = ['src/http/', 'src/compose/', 'src/cli/'];
/** Outer-layer files (entry points and wiring), without extension. */
const FORBIDDEN_FILES = ['src/server', 'src/lambda'];
/** `src/config*`: config is read once at start and handed inwards as values. */
const FORBIDDEN_PREFIX = 'src/config';
/** Packages an inner layer must not depend on. */
const FORBIDDEN_PACKAGES = ['express'];

const MAX_LINES = 300;

/** Every `.ts` file under a folder, as paths relative to the repository root with `/` separators. */
function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(full);
    return entry.name.endsWith('.ts') ? [path.relative(ROOT, full).split(path.sep).join('/')] : [];
  });
}

/**
 * Module specifiers of `import ... from`, `export ... from`, `import '...'`, `import(...)` and
 * `require(...)`. Comment lines (`//`, `/*`, ` *`) are dropped first so TSDoc examples do not count.
 */
function importSpecifiers(source: string): string[] {
  const code = source
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
    .join('\n');
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((m) => m[1] as string));
}

/** What a specifier in `file` points to: a repository path without `.ts` / `/index.ts`, or the package name. */
function resolveSpecifier(file: string, specifier: string): { path?: string; pkg?: string } {
  if (!specifier.startsWith('.')) {
    const parts = specifier.split('/');
    return { pkg: specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0] };
  }
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
  const isIndex = !fs.existsSync(path.join(ROOT, `${target}.ts`)) && fs.existsSync(path.join(ROOT, target, 'index.ts'));
  return { path: isIndex ? `${target}/index` : target.replace(/\.(ts|js)$/, '') };
}

/** Why an import from an inner layer is not allowed, or undefined when it is. */
function violation(file: string, specifier: string): string | undefined {
  const { path: target, pkg } = resolveSpecifier(file, specifier);
  if (pkg !== undefined) return FORBIDDEN_PACKAGES.includes(pkg) ? `the ${pkg} package` : undefined;
  if (target === undefined) return undefined;
  if (FORBIDDEN_DIRS.some((dir) => `${target}/`.startsWith(dir))) return target;
  if (FORBIDDEN_FILES.includes(target) || target.startsWith(FORBIDDEN_PREFIX)) return target;
  return undefined;
}

function lineCount(source: string): number {
  return source.endsWith('\n') ? source.split('\n').length - 1 : source.split('\n').length;
}

const files = tsFiles(SRC).sort();

// The rule is not negotiable: fix the import, do not add an exception here.
describe('layering: inner layers import neither express nor outer layers', () => {
  it('finds the import specifiers it checks', () => {
    const source = [
      "import express from 'express';",
      "import type { A } from '../http/x';",
      'import {\n  b,\n  c,\n} from "../config";',
      "export { d } from './d';",
      "import './side-effect';",
      "const e = require('../server');",
      "type F = typeof import('../app');",
      " * import { g } from '../cli/g';",
    ].join('\n');
    expect(importSpecifiers(source)).toEqual([
      'express',
      '../http/x',
      '../config',
      './d',
      './side-effect',
      '../server',
      '../app',
    ]);
  });

  it('classifies what an inner file may import', () => {
    expect(violation('src/keys/a.ts', 'express')).toBe('the express package');
    expect(violation('src/keys/a.ts', 'node:crypto')).toBeUndefined();
    expect(violation('src/keys/a.ts', '../http/error-handler')).toBe('src/http/error-handler');
    expect(violation('src/keys/a.ts', '../config')).toBe('src/config/index');
    expect(violation('src/keys/a.ts', '../config/env')).toBe('src/config/env');
    expect(violation('src/keys/a.ts', '../server')).toBe('src/server');
    expect(violation('src/keys/a.ts', '../compose/services')).toBe('src/compose/services');
    expect(violation('src/keys/a.ts', '../errors')).toBeUndefined();
    expect(violation('src/keys/a.ts', '../domain/ids')).toBeUndefined();
  });

  const inner = files.filter((file) => INNER_DIRS.some((dir) => file.startsWith(dir)));

  it('has inner-layer files to check', () => {
    expect(inner.length).toBeGreaterThan(20);
  });

  it('no inner-layer file imports express, http/, compose/, cli/, config or an entry point', () => {
    const found = inner.flatMap((file) =>
      importSpecifiers(fs.readFileSync(path.join(ROOT, file), 'utf8')).flatMap((specifier) => {
        const why = violation(file, specifier);
        return why === undefined ? [] : [`${file} imports ${why} ('${specifier}')`];
      }),
    );
    expect(found).toEqual([]);
  });
});

describe(`size: every src/**/*.ts file has at most ${MAX_LINES} lines`, () => {
  it('no source file is longer', () => {
    const tooLong = files.flatMap((file) => {
      const lines = lineCount(fs.readFileSync(path.join(ROOT, file), 'utf8'));
      return lines > MAX_LINES ? [`${file}: ${lines} lines`] : [];
    });
    expect(tooLong).toEqual([]);
  });
});

// Configuration is read once, at start, through src/config/ (env.ts); the CLI's client commands keep their own
// documented option defaults (e.g. KEYPLANE_XSD_DIR for `conformance --xsd-dir`), which are not server config.
describe('configuration: only src/config/ reads process.env', () => {
  it('no other server file reads the environment', () => {
    const readers = files.filter(
      (file) =>
        !file.startsWith('src/config/') &&
        !file.startsWith('src/cli/') &&
        /\bprocess\.env\b/.test(fs.readFileSync(path.join(ROOT, file), 'utf8')),
    );
    expect(readers).toEqual([]);
  });
});
