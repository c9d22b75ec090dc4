// Test fixture: a real OpenID Provider (the npm package oidc-provider) on a free loopback port, over plain http,
// with one confidential client and one account, completing login and consent without a person so that a test's
// scripted "browser" can follow the redirects from the authorization URL to the client's redirect_uri.
//
// Usage: node provider.mjs <config.json> <port-file>
//   config.json: {"client": {"client_id", "client_secret", "redirect_uri"},
//                 "account": {"sub", "email", "email_verified", "name"}}
// The provider listens on 127.0.0.1, port 0, and writes the port it got to <port-file> once it accepts requests
// (written to a temporary name first, then renamed, so a reader never sees half of it).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const [configPath, portFile] = process.argv.slice(2);
if (!configPath || !portFile) {
  console.error('usage: node provider.mjs <config.json> <port-file>');
  process.exit(2);
}
const { client, account } = JSON.parse(readFileSync(configPath, 'utf8'));

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// A fresh RS256 key per run: the relying party must fetch it from jwks_uri, never know it in advance.
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: [client.redirect_uri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // PKCE for every client, not only public ones (oidc-provider's default), as Google and our client do.
  pkce: { required: () => true },
  jwks: { keys: [{ ...signingKey, kid: 'fixture-rs256', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Put the scope's claims into the ID token as Google does, not only into the userinfo response.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (id !== account.sub) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: account.email_verified, name: account.name };
      },
    };
  },
});

// The "user": logs in as the configured account, then grants whatever the client asked for, answering each
// interaction with a redirect back into the authorization flow.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: account.sub } };
  } else if (details.prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.status = 500;
    ctx.body = `unexpected prompt ${details.prompt.name}`;
    return undefined;
  }
  ctx.status = 303;
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true }));
  return undefined;
});

server.on('request', provider.callback());
writeFileSync(`${portFile}.tmp`, String(server.address().port));
renameSync(`${portFile}.tmp`, portFile);
console.log(`oidc-provider fixture listening at ${issuer}`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
