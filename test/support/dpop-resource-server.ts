import { createHash, createPublicKey, randomBytes, verify, type JsonWebKey as NodeJwk } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the resource server learns about a token it is shown: an introspection answer (RFC 7662). */
export interface TokenIntrospection {
  readonly active: boolean;
  readonly sub?: string;
  readonly client_id?: string;
  readonly cnf?: { readonly jkt?: string };
}

/** How one request was decided, so tests can assert why an answer was given. */
export interface DpopVerdict {
  readonly method: string;
  readonly path: string;
  readonly scheme: string | undefined;
  /** The proof as sent, so a test can replay it. */
  readonly proof: string | undefined;
  readonly status: number;
  /** Why a request was refused, or `ok`. */
  readonly reason: string;
}

/** The public members RFC 7638 hashes, per key type, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

/** How Node verifies each JWS algorithm a proof may use. */
const VERIFY: Record<string, { hash: string | null; dsaEncoding?: 'ieee-p1363'; padding?: number }> = {
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  EdDSA: { hash: null },
  Ed25519: { hash: null },
  RS256: { hash: 'sha256' },
};

/** RFC 7638 thumbprint of a JWK's public members. */
export function thumbprintOf(jwk: Record<string, string>): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ''] ?? [];
  const canonical = JSON.stringify(Object.fromEntries(members.map((member) => [member, jwk[member]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

function decodePart(part: string | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * A protected API on 127.0.0.1 that checks DPoP proofs itself (RFC 9449
 * §7), with an implementation independent of refreshkit's (node:crypto):
 * signature with the embedded public key, `typ`, `htm`, `htu` (without
 * query), `iat` within a minute, a `jti` never seen before, `ath` of the
 * token, the current nonce when nonces are on, and the token's binding
 * (`cnf.jkt` from introspection) to the proof's key. A bearer token is
 * accepted only if it is not DPoP-bound. Every answer carries the current
 * `DPoP-Nonce` when nonces are on; `rotateNonce` changes it mid-run.
 * An authorized request to `/redirect?to=URL&status=307` is redirected there.
 */
export class DpopResourceServer {
  readonly verdicts: DpopVerdict[] = [];
  readonly #server: Server;
  readonly #introspect: (token: string) => Promise<TokenIntrospection>;
  readonly #seenJtis = new Set<string>();
  #origin = '';
  #nonce: string | undefined;

  private constructor(introspect: (token: string) => Promise<TokenIntrospection>, nonces: boolean) {
    this.#introspect = introspect;
    if (nonces) this.#nonce = randomBytes(16).toString('base64url');
    this.#server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.#handle(req, res).catch((error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        });
      });
    });
  }

  /** Starts on a free loopback port; `introspect` asks the authorization server about a token. */
  static async start(
    introspect: (token: string) => Promise<TokenIntrospection>,
    options: { nonces?: boolean } = {},
  ): Promise<DpopResourceServer> {
    const server = new DpopResourceServer(introspect, options.nonces === true);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    server.#origin = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`;
    return server;
  }

  get origin(): string {
    return this.#origin;
  }

  /** The nonce proofs must carry now, if nonces are on. */
  get nonce(): string | undefined {
    return this.#nonce;
  }

  /** Issues a new nonce: proofs with the old one are answered `use_dpop_nonce` from now on. */
  rotateNonce(): void {
    this.#nonce = randomBytes(16).toString('base64url');
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', this.#origin);
    const authorization = req.headers.authorization ?? '';
    const [scheme, token] = authorization.split(' ', 2) as [string | undefined, string | undefined];
    const proof = typeof req.headers.dpop === 'string' ? req.headers.dpop : undefined;
    if (this.#nonce !== undefined) res.setHeader('dpop-nonce', this.#nonce);
    const answer = (status: number, reason: string, challenge?: string): void => {
      this.verdicts.push({ method, path: url.pathname, scheme, proof, status, reason });
      if (challenge !== undefined) res.setHeader('www-authenticate', challenge);
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(status === 200 ? { ok: true } : { error: reason }));
    };
    if (token === undefined || (scheme !== 'DPoP' && scheme !== 'Bearer')) {
      return answer(401, 'no token', 'DPoP algs="ES256 EdDSA RS256", Bearer');
    }
    const introspection = await this.#introspect(token);
    if (!introspection.active) return answer(401, 'inactive token', 'DPoP error="invalid_token"');
    const boundJkt = introspection.cnf?.jkt;
    if (scheme === 'Bearer') {
      if (boundJkt !== undefined) return answer(401, 'DPoP-bound token sent as bearer', 'DPoP error="invalid_token"');
      return answer(200, 'ok');
    }
    if (proof === undefined) return answer(401, 'no proof', 'DPoP error="invalid_dpop_proof"');
    const problem = this.#checkProof(proof, method, url, token, boundJkt);
    if (problem === 'use_dpop_nonce') {
      return answer(401, 'use_dpop_nonce', 'DPoP error="use_dpop_nonce", error_description="nonce required"');
    }
    if (problem !== undefined) return answer(401, problem, 'DPoP error="invalid_dpop_proof"');
    if (url.pathname === '/redirect') {
      // Only an authorized request is redirected, so every hop's proof is checked.
      const status = Number(url.searchParams.get('status') ?? 307);
      this.verdicts.push({ method, path: url.pathname, scheme, proof, status, reason: 'ok' });
      res.writeHead(status, { location: url.searchParams.get('to') ?? '/' });
      return void res.end();
    }
    return answer(200, 'ok');
  }

  /** Why `proof` does not authorize this request, or undefined when it does. */
  #checkProof(
    proof: string,
    method: string,
    url: URL,
    token: string,
    boundJkt: string | undefined,
  ): string | undefined {
    const [headerPart, payloadPart, signaturePart] = proof.split('.');
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = decodePart(headerPart);
      payload = decodePart(payloadPart);
    } catch {
      return 'malformed proof';
    }
    if (header.typ !== 'dpop+jwt') return 'wrong typ';
    const how = VERIFY[String(header.alg)];
    const jwk = header.jwk as Record<string, string> | undefined;
    if (how === undefined || jwk === undefined) return 'unsupported alg or no jwk';
    if ('d' in jwk) return 'private key in proof';
    const key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
    const signed = Buffer.from(`${headerPart}.${payloadPart}`);
    const signature = Buffer.from(signaturePart ?? '', 'base64url');
    const valid = verify(how.hash, signed, how.dsaEncoding ? { key, dsaEncoding: how.dsaEncoding } : key, signature);
    if (!valid) return 'bad signature';
    if (payload.htm !== method) return 'htm mismatch';
    if (payload.htu !== `${url.origin}${url.pathname}`) return 'htu mismatch';
    if (typeof payload.iat !== 'number' || Math.abs(Date.now() / 1000 - payload.iat) > 60) return 'iat not recent';
    const ath = createHash('sha256').update(token).digest('base64url');
    if (payload.ath !== ath) return 'ath mismatch';
    if (this.#nonce !== undefined && payload.nonce !== this.#nonce) return 'use_dpop_nonce';
    if (typeof payload.jti !== 'string' || this.#seenJtis.has(payload.jti)) return 'replayed proof';
    this.#seenJtis.add(payload.jti);
    if (boundJkt !== thumbprintOf(jwk)) return 'token not bound to the proof key';
    return undefined;
  }
}
