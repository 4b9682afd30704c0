// The peer-bench node-oidc-provider peer, unchanged, with a persistent Redis adapter instead of
// its in-memory one (bench/run_bench.sh backend "peer-redis", issue 10).
//
// The peer's server.mjs hard-codes `adapter: BenchAdapter` in its Provider configuration and has
// no hook for another one. Rather than copying it, this runs that very file (the copy in
// bench/.work/peer-bench, or PEER_SERVER=path) with its `import Provider from 'oidc-provider'`
// resolved to provider_shim.mjs, which sets `adapter` to redis_adapter.mjs and changes nothing
// else: same client, user, argon2id parameters, ES256 keys, features (introspection is already
// enabled there), TTLs and login form. Same environment variables as the peer, plus
// PEER_REDIS_URL (see redis_adapter.mjs).
//
//   PEER_REDIS_URL=redis://127.0.0.1:6379/1 node bench/peer_redis/server.mjs
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const server = process.env.PEER_SERVER
  ? pathToFileURL(path.resolve(process.env.PEER_SERVER)).href
  : new URL('../.work/peer-bench/peer/server.mjs', import.meta.url).href;

register('./hooks.mjs', import.meta.url, { data: { server } });
console.log(JSON.stringify({
  peer_redis: { server, adapter: 'redis', redis_url: process.env.PEER_REDIS_URL || 'redis://127.0.0.1:6379/1' },
}));
await import(server);
