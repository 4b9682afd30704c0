// Stands in for 'oidc-provider' when the peer's server.mjs imports it (see hooks.mjs): the same
// Provider, with every configuration's `adapter` replaced by the Redis adapter. Nothing else of
// the peer's configuration (client, user, argon2, ES256 keys, features, TTLs) is touched.
import { Provider as Upstream } from 'oidc-provider';
import RedisAdapter from './redis_adapter.mjs';

export * from 'oidc-provider';

export class Provider extends Upstream {
  constructor(issuer, configuration = {}) {
    super(issuer, { ...configuration, adapter: RedisAdapter });
  }
}
export default Provider;
