// Module resolution hooks (node:module register): the peer's server.mjs gets provider_shim.mjs
// for 'oidc-provider'; the shim itself gets the real package from the peer's node_modules.
const SHIM = new URL('./provider_shim.mjs', import.meta.url).href;
let server = '';

export async function initialize(data) { server = data.server; }

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'oidc-provider') {
    if (context.parentURL === server) return { url: SHIM, shortCircuit: true };
    if (context.parentURL === SHIM) return nextResolve(specifier, { ...context, parentURL: server });
  }
  return nextResolve(specifier, context);
}
