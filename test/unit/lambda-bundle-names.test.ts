import fs from 'node:fs';
import path from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { ROOT } from '../helpers/paths';

// The Lambda bundle keeps identifiers unminified and does without esbuild's `keepNames` (it starts
// faster, see esbuild.lambda.js); class names then survive unless bundling renames a class to avoid a
// clash with another module's (`Foo` → `Foo2`). Keyplane's error classes set
// `this.name = new.target.name`, which reaches logs and responses, so none of its classes may be renamed.

const { ESBUILD_OPTIONS } = require(path.join(ROOT, 'esbuild.lambda.js')) as { ESBUILD_OPTIONS: BuildOptions };

/** `class Name` / `class Name extends Base` declarations of a TypeScript file (generics dropped). */
function classesOf(file: string): { name: string; base?: string }[] {
  const source = fs.readFileSync(file, 'utf8');
  const found = source.matchAll(/^(?:export )?(?:abstract )?class (\w+)(?:<[^>]*>)?(?: extends (\w+))?/gm);
  return [...found].map((m) => ({ name: m[1] as string, base: m[2] }));
}

it('bundles src/lambda.ts without renaming any Keyplane class', async () => {
  const result = await build({
    ...ESBUILD_OPTIONS,
    entryPoints: [path.join(ROOT, 'src/lambda.ts')],
    outfile: path.join(ROOT, 'dist/lambda-names-check.js'),
    write: false,
    sourcemap: false,
    metafile: true,
    logLevel: 'error',
  });
  const code = result.outputFiles.find((f) => f.path.endsWith('.js'))?.text ?? '';
  const sources = Object.keys(result.metafile.inputs).filter((f) => /^src\/.*\.ts$/.test(f));
  const classes = sources.flatMap((f) => classesOf(path.join(ROOT, f)));
  expect(classes.length).toBeGreaterThan(20);
  const renamed = classes.filter(({ name, base }) => {
    const tail = base ? ` extends ${base}` : '';
    return !code.includes(`${name}=class${tail}`) && !code.includes(`class ${name}${tail}`);
  });
  expect(renamed.map((c) => c.name)).toEqual([]);
}, 60_000);
