// node-oidc-provider standing in for Google in the SNS tests (tests/integration/test_sns_oidc_peer.py).
//
// A real OpenID provider nobody here wrote: discovery, JWKS, authorization code with PKCE,
// client_secret_post, userinfo. Loopback only, in-memory. One confidential client (ours) whose
// redirect URI is `<our issuer>/sns/google/callback`; one user, signed in and consented
// silently (no pages: the test drives only the redirects).
//
// Environment: PEER_PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI.

import http from 'node:http';
import crypto from 'node:crypto';

import Provider from 'oidc-provider';

const env = (k, d) => (process.env[k] ? process.env[k] : d);
const PORT = Number(env('PEER_PORT', '3100'));
const ISSUER = `http://127.0.0.1:${PORT}`;
const CLIENT_ID = env('CLIENT_ID', 'kotra-idp');
const CLIENT_SECRET = env('CLIENT_SECRET', 'peer-secret');
const REDIRECT_URI = env('REDIRECT_URI', 'http://127.0.0.1:5999/sns/google/callback');
const ACCOUNT_ID = 'peer-user-0001';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: `peer-${crypto.randomBytes(4).toString('hex')}` };

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'profile', 'email'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
  async findAccount(ctx, id) {
    if (id !== ACCOUNT_ID) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: '노드피어', email: 'peer@example.com', email_verified: true };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/healthz') { res.writeHead(200); res.end('ok'); return; }
  if (path.startsWith('/interaction/')) {
    try {
      // The user signs in at once (the test is about the protocol, not this page).
      await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT_ID } }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.writeHead(400); res.end(String(err.message));
    }
    return;
  }
  callback(req, res);
});
server.listen(PORT, '127.0.0.1', () => console.log(JSON.stringify({ issuer: ISSUER, pid: process.pid })));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { server.close(); process.exit(0); });
