// A DEMO / TEST OpenID Connect provider that plays the マイナンバーカード's (decision 0048).
//
// It is `oidc-provider` (an OpenID Certified implementation) on a loopback port, with fictional card holders from
// holders.json: its sign-in page plays the card reader (pick a holder, enter the PIN: 1234 for all of them). It
// never touches a real card and must never be reachable from another machine: it listens on 127.0.0.1 only.
//
//   node server.js --port 4455 [--issuer http://127.0.0.1:4455] [--client-id madoguchi]
//                  [--client-secret …] [--jwks keys.json] [--id-token-ttl 300] [--holders holders.json]
//                  [--redirect-uri https://example/card/callback …]
//
// Every option may also come from the environment: CARD_IDP_PORT, CARD_IDP_ISSUER, CARD_IDP_CLIENT_ID,
// CARD_IDP_CLIENT_SECRET, CARD_IDP_JWKS, CARD_IDP_ID_TOKEN_TTL, CARD_IDP_HOLDERS, CARD_IDP_REDIRECT_URIS
// (space-separated). Once it listens it prints one line, `card-idp ready <issuer>`, on stdout.
//
// Keys: --jwks names a JWKS file of PRIVATE keys (RSA, for RS256). The FIRST key signs; every key is published
// at the jwks_uri. To rotate, restart with a new key first (and the old one after it, to keep old tokens
// verifiable, or without it). Without --jwks a fresh key is made for this run.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

const HOST = '127.0.0.1';
const HERE = dirname(fileURLToPath(import.meta.url));
//: The PIN of every fictional card (the card's 利用者証明用電子証明書 PIN is 4 digits).
const PIN = '1234';
//: The platform's one redirect path (identity/card/protocol.py CALLBACK_PATH).
const CALLBACK_PATH = '/card/callback';
const ACR = 'urn:madoguchi:card-idp:demo-pin';

// -- configuration ------------------------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    jwks: { type: 'string' },
    'id-token-ttl': { type: 'string' },
    holders: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
  },
});
const env = process.env;
const port = Number(args.port ?? env.CARD_IDP_PORT ?? 4455);
const issuer = args.issuer ?? env.CARD_IDP_ISSUER ?? `http://${HOST}:${port}`;
const clientId = args['client-id'] ?? env.CARD_IDP_CLIENT_ID ?? 'madoguchi';
const clientSecret = args['client-secret'] ?? env.CARD_IDP_CLIENT_SECRET ?? 'madoguchi-demo-card-secret';
const idTokenTtl = Number(args['id-token-ttl'] ?? env.CARD_IDP_ID_TOKEN_TTL ?? 300);
const holdersFile = args.holders ?? env.CARD_IDP_HOLDERS ?? join(HERE, 'holders.json');
const extraRedirectUris = args['redirect-uri'] ?? (env.CARD_IDP_REDIRECT_URIS ?? '').split(/\s+/).filter(Boolean);
const jwksFile = args.jwks ?? env.CARD_IDP_JWKS;

const holders = JSON.parse(readFileSync(holdersFile, 'utf8')).holders;
const holderBySub = new Map(holders.map((holder) => [holder.sub, holder]));

function signingKeys() {
  if (jwksFile) {
    return JSON.parse(readFileSync(jwksFile, 'utf8'));
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: `card-idp-${randomUUID()}`, use: 'sig', alg: 'RS256' }] };
}

// -- the redirect URI check --------------------------------------------------------------------------------------

// The platform registers ONE redirect URI, <base>/card/callback. Tests and the demo run the app on loopback on a
// port chosen at start, so any http(s) loopback origin (127.0.0.1, localhost, [::1], any port) with exactly that
// path is allowed, besides the URIs listed with --redirect-uri. oidc-provider only lets "native" clients vary the
// loopback port, so the check is replaced on this provider's Client class (Client.prototype.redirectUriAllowed,
// which both the authorization endpoint and its error handler call).
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isLoopbackCallback(value) {
  const url = URL.parse(value);
  return Boolean(url)
    && ['http:', 'https:'].includes(url.protocol)
    && LOOPBACK_HOSTS.has(url.hostname)
    && url.pathname === CALLBACK_PATH
    && !url.search && !url.hash && !url.username && !url.password;
}

// -- the provider ------------------------------------------------------------------------------------------------

// The card is read for every sign-in: a session the provider remembers never signs a holder in by itself.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'card_every_time',
  'the card is read for every sign-in',
  (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT),
));

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [`http://${HOST}${CALLBACK_PATH}`, ...extraRedirectUris],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
    require_auth_time: true,
  }],
  jwks: signingKeys(),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // PKCE (S256, the only method oidc-provider 9 has) for every client, not only public ones.
  pkce: { required: () => true },
  responseTypes: ['code'],
  scopes: ['openid', 'profile', 'address'],
  // The card's 基本4情報 as OIDC standard claims; the RP reads them from userinfo.
  claims: {
    openid: ['sub'],
    profile: ['name', 'birthdate', 'gender'],
    address: ['address'],
  },
  acrValues: [ACR],
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    revocation: { enabled: false },
  },
  ttl: {
    IdToken: idTokenTtl,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 600,
    Grant: 600,
  },
  interactions: {
    policy,
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // Consent is skipped: the platform is this provider's first-party client, so a grant of what it asked for is
  // made at once (oidc-provider's "skip consent" recipe).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
    await grant.save();
    return grant;
  },
  async findAccount(_ctx, sub) {
    const holder = holderBySub.get(sub);
    if (!holder) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims() {
        const { name, birthdate, gender, address } = holder.card;
        return { sub, name, birthdate, gender, address };
      },
    };
  },
});

provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  return this.redirectUris.includes(value) || isLoopbackCallback(value);
};

// -- the card reader page (the interaction) ----------------------------------------------------------------------

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function page(uid, { error, chosen } = {}) {
  const options = holders.map((holder, index) => {
    const id = `holder-${holder.sub}`;
    const checked = chosen ? holder.sub === chosen : index === 0;
    return `<li><input type="radio" name="holder" id="${escape(id)}" value="${escape(holder.sub)}"${checked ? ' checked' : ''}>
      <label for="${escape(id)}"><strong lang="ja">${escape(holder.card.name)}</strong>
      <span>${escape(holder.card.birthdate)} · ${escape(holder.card.address.formatted)}</span>
      <small lang="ja">${escape(holder.label.ja)}</small> <small lang="en">${escape(holder.label.en)}</small></label></li>`;
  }).join('\n');
  return `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>デモ用カード認証 / Demo card sign-in</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:44rem;margin:1rem auto;padding:0 1rem;color:#111}
 .banner{background:#fff4ce;border:2px solid #8a6d00;padding:.75rem;margin-bottom:1rem}
 ul{list-style:none;padding:0} li{border:1px solid #ccc;margin:.4rem 0;padding:.5rem}
 label span,label small{display:block} .error{color:#b00020;font-weight:bold}
 button{font-size:1rem;padding:.5rem 1rem;margin:.5rem .5rem 0 0}
</style></head><body>
<div class="banner" role="note" id="demo-banner">
 <p><strong>これはデモ・テスト用の認証サーバーです。</strong>本物のマイナンバーカードは使わず、架空のカード所有者を選びます。</p>
 <p lang="en"><strong>This is a demo / test provider.</strong> No real My Number Card is read: pick a fictional card holder.</p>
</div>
<h1>マイナンバーカードの読み取り（模擬） <small lang="en">Card reader (simulated)</small></h1>
<form method="post" action="/interaction/${escape(uid)}/login" id="card-form">
<fieldset><legend>カードを選ぶ / Choose a card</legend><ul>
${options}
</ul></fieldset>
<p><label for="pin">暗証番号（数字4桁） / PIN (4 digits)</label>
<input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" maxlength="4" required
 ${error ? 'aria-invalid="true" aria-describedby="pin-error"' : ''}>
<small>デモのカードはすべて 1234 / every demo card: 1234</small></p>
${error ? `<p class="error" id="pin-error" role="alert">${escape(error)}</p>` : ''}
<button type="submit" id="read-card">カードを読み取る / Read the card</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort" id="cancel-form">
<button type="submit" id="cancel">やめる / Cancel</button>
</form>
</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
    if (chunks.reduce((n, c) => n + c.length, 0) > 16384) {
      throw new Error('form too large');
    }
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// form-action covers the redirects that follow a form's submission too (browsers enforce it on each hop): the card
// form's answer ends at the relying party's redirect URI, so that origin is allowed beside 'self'.
function send(res, status, html, redirectUri) {
  const relyingParty = URL.parse(redirectUri ?? '')?.origin;
  const formAction = relyingParty && relyingParty !== 'null' ? `'self' ${relyingParty}` : "'self'";
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}`,
  });
  res.end(html);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, '<!doctype html><title>card-idp</title><p>This sign-in has expired. / 期限切れです。</p>');
    return;
  }
  if (req.method === 'GET' && !action) {
    send(res, 200, page(uid), details.params.redirect_uri);
    return;
  }
  if (req.method === 'POST' && action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'the card holder cancelled',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const sub = form.get('holder');
    if (!holderBySub.has(sub)) {
      send(res, 400, page(uid, { error: 'カードを選んでください。/ Choose a card.' }), details.params.redirect_uri);
      return;
    }
    if (form.get('pin') !== PIN) {
      send(res, 400, page(uid, { error: '暗証番号が違います。/ The PIN is wrong.', chosen: sub }), details.params.redirect_uri);
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: sub, acr: ACR, amr: ['hwk', 'pin'], remember: false },
    }, { mergeWithLastSubmission: false });
    return;
  }
  send(res, 405, '<!doctype html><title>card-idp</title><p>Method not allowed</p>');
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/;
const handle = provider.callback();

const server = createServer(async (req, res) => {
  const match = INTERACTION.exec(new URL(req.url, issuer).pathname);
  if (!match) {
    handle(req, res);
    return;
  }
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    // An unknown or expired interaction (no cookie, restarted provider): a plain page, never a stack trace.
    send(res, 400, `<!doctype html><title>card-idp</title><p>This sign-in cannot go on: ${escape(error.message)}</p>`);
  }
});

server.listen(port, HOST, () => {
  process.stdout.write(`card-idp ready ${issuer}\n`);
});

// Started by the demo or a test run: if that process dies without stopping this one (killed), stop too rather
// than linger on the port.
// (process.ppid is read once at start on Node 20, so the parent is asked whether it still exists: signal 0.)
const parentPid = process.ppid;
setInterval(() => {
  try {
    process.kill(parentPid, 0);
  } catch {
    process.exit(0);
  }
}, 2000).unref();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
