// Lets Node run the TypeScript sources directly: tsx for TypeScript, and a loader hook that serves
// `kernels/*.wgsl?raw` imports as their text, exactly as Vite and Vitest do. Used by bin/vgrpo.js and
// `npm run bench` (node --import ./bin/register.js).
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./wgsl-hooks.js', import.meta.url);
