// A persistent Redis adapter for node-oidc-provider (bench backend "peer-redis", issue 10).
//
// Written for the bench after the library's documented example adapter
// (panva/node-oidc-provider example/my_adapter.js for the interface, example/adapters/redis.js
// for the layout): one key per model instance, JSON payloads, consumable models stored as a hash
// so that consume() is one HSET, a list per grant for revokeByGrantId, uid / userCode index keys,
// Redis TTL = the model's expiresIn. ioredis, one connection shared by all models.
//
// PEER_REDIS_URL=redis://127.0.0.1:6379/1   server and database (bench/run_bench.sh flushes it)
// PEER_REDIS_PREFIX=oidc:                   key prefix
import Redis from 'ioredis';

const URL_ = process.env.PEER_REDIS_URL || 'redis://127.0.0.1:6379/1';
const PREFIX = process.env.PEER_REDIS_PREFIX || 'oidc:';

export const client = new Redis(URL_, { keyPrefix: PREFIX, lazyConnect: false });
client.on('error', (err) => { console.error('redis adapter:', err.message); });

const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);
const consumable = new Set([
  'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

const grantKeyFor = (id) => `grant:${id}`;
const userCodeKeyFor = (userCode) => `userCode:${userCode}`;
const uidKeyFor = (uid) => `uid:${uid}`;

export default class RedisAdapter {
  constructor(name) { this.name = name; }

  key(id) { return `${this.name}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const multi = client.multi();
    if (consumable.has(this.name)) multi.hset(key, { payload: JSON.stringify(payload) });
    else multi.set(key, JSON.stringify(payload));
    if (expiresIn) multi.expire(key, expiresIn);

    if (grantable.has(this.name) && payload.grantId) {
      const grantKey = grantKeyFor(payload.grantId);
      multi.rpush(grantKey, key);
      const ttl = await client.ttl(grantKey);
      if (expiresIn > ttl) multi.expire(grantKey, expiresIn);
    }
    if (payload.userCode) {
      const userCodeKey = userCodeKeyFor(payload.userCode);
      multi.set(userCodeKey, id);
      if (expiresIn) multi.expire(userCodeKey, expiresIn);
    }
    if (payload.uid) {
      const uidKey = uidKeyFor(payload.uid);
      multi.set(uidKey, id);
      if (expiresIn) multi.expire(uidKey, expiresIn);
    }
    await multi.exec();
  }

  async find(id) {
    const key = this.key(id);
    if (consumable.has(this.name)) {
      const data = await client.hgetall(key);
      if (!data || !data.payload) return undefined;
      const { payload, ...rest } = data;
      const out = { ...JSON.parse(payload) };
      if (rest.consumed !== undefined) out.consumed = Number(rest.consumed);
      return out;
    }
    const data = await client.get(key);
    return data ? JSON.parse(data) : undefined;
  }

  async findByUid(uid) {
    const id = await client.get(uidKeyFor(uid));
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = await client.get(userCodeKeyFor(userCode));
    return id ? this.find(id) : undefined;
  }

  async destroy(id) { await client.del(this.key(id)); }

  async revokeByGrantId(grantId) {
    const grantKey = grantKeyFor(grantId);
    // the list holds unprefixed keys; ioredis adds keyPrefix to the DEL arguments
    const keys = await client.lrange(grantKey, 0, -1);
    const multi = client.multi();
    for (const k of keys) multi.del(k);
    multi.del(grantKey);
    await multi.exec();
  }

  async consume(id) {
    await client.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
  }
}
