// Node module hooks: `import src from '.../x.wgsl?raw'` (or a .py file) yields the file's text as the default export.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const RAW = /\.(wgsl|py)\?raw$/;

export async function resolve(specifier, context, next) {
  if (RAW.test(specifier)) {
    return { url: new URL(specifier, context.parentURL).href, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (RAW.test(url)) {
    const file = new URL(url);
    file.search = '';
    const text = await readFile(fileURLToPath(file), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return next(url, context);
}
