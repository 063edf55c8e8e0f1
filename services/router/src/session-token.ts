/**
 * Sealed session ids: the router's `Mcp-Session-Id` (and the legacy SSE endpoint's `s`
 * parameter) carry, encrypted and authenticated, everything a replica needs to serve the next
 * request of the session, so no session state lives in one replica's memory (DESIGN "router":
 * "any replica serves any request of any session").
 *
 * Format: `v1.` + base64url(iv ‖ AES-256-GCM ciphertext ‖ 16-byte tag). The key is derived with
 * HKDF-SHA256 from `ROUTER_SESSION_KEY`, which every replica shares. A token that does not open
 * (another key, tampered, truncated, expired, wrong kind) is simply not a session: 404.
 *
 * Rotation: `ROUTER_SESSION_ACCEPTED_KEYS` are further secrets whose tokens a replica opens but
 * never seals with. Add the new key there everywhere, then make it `ROUTER_SESSION_KEY` with the
 * old one accepted, then drop the old one: at no step does a replica meet a token it cannot open.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { z } from "zod";

/** Prefix naming the format version, so a later format can coexist during a rollout. */
export const TOKEN_PREFIX = "v1.";

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Binds ciphertexts to this use: a token sealed for something else with the same key fails. */
const AAD = Buffer.from("mcp-platform router session v1");
const HKDF_SALT = Buffer.from("mcp-platform/router");
const HKDF_INFO = Buffer.from("session-token aes-256-gcm");
/** Client capabilities larger than this are reduced to their top-level keys (header size). */
export const MAX_CAPABILITIES_BYTES = 1024;
/** Opened tokens remembered per replica, so a busy session is decrypted once, not per request. */
const OPENED_CACHE_SIZE = 10_000;

/** Fields every session token carries. */
const BaseSchema = z.object({
  /** Random nonce: names the session in logs-free bookkeeping (cancellation, streams). */
  n: z.string().min(8),
  /** Issued at, in seconds since the epoch. */
  iat: z.number().int(),
});

/** A session on the merged catalog (`/mcp`), served by any replica from the token alone. */
export const GatewaySessionSchema = BaseSchema.extend({
  t: z.literal("gateway"),
  /** The negotiated protocol version. */
  pv: z.string().min(1),
  /** The client's declared capabilities (possibly reduced, see `MAX_CAPABILITIES_BYTES`). */
  cc: z.record(z.string(), z.unknown()),
  /** The client's name and version, for logs. */
  ci: z.object({ name: z.string(), version: z.string() }).optional(),
});

/**
 * A passthrough session (`/services/<name>/mcp`): the upstream session lives on one mcp-server
 * instance, so the token names it; any replica forwards there.
 */
export const PassthroughSessionSchema = BaseSchema.extend({
  t: z.literal("passthrough"),
  /** Service id. */
  s: z.string().min(1),
  /** The instance's `/mcp` URL. */
  i: z.string().min(1),
  /** The upstream session id on that instance. */
  u: z.string().min(1),
});

/**
 * A legacy SSE session: the stream lives on one replica (`o`, its base URL); a POST landing on
 * another replica is forwarded there.
 */
export const SseSessionSchema = BaseSchema.extend({
  t: z.literal("sse"),
  /** Base URL of the replica holding the stream. */
  o: z.string().min(1),
});

/**
 * Not a session: the credential one replica shows another on its internal endpoints. Only
 * holders of `ROUTER_SESSION_KEY` can make one.
 */
export const PeerTokenSchema = BaseSchema.extend({ t: z.literal("peer") });

/** Any session token's payload. */
export const SessionPayloadSchema = z.discriminatedUnion("t", [
  GatewaySessionSchema,
  PassthroughSessionSchema,
  SseSessionSchema,
  PeerTokenSchema,
]);

/** A decoded session token. */
export type SessionPayload = z.infer<typeof SessionPayloadSchema>;
/** A merged-catalog session. */
export type GatewaySession = z.infer<typeof GatewaySessionSchema>;
/** A passthrough session. */
export type PassthroughSession = z.infer<typeof PassthroughSessionSchema>;
/** A legacy SSE session. */
export type SseSession = z.infer<typeof SseSessionSchema>;

/** What `seal` needs: the payload without the fields it fills in. */
export type NewSession =
  | Omit<GatewaySession, "n" | "iat">
  | Omit<PassthroughSession, "n" | "iat">
  | Omit<SseSession, "n" | "iat">
  | Omit<z.infer<typeof PeerTokenSchema>, "n" | "iat">;

/** Options of `SessionSealer`. */
export interface SessionSealerOptions {
  /** `ROUTER_SESSION_KEY`: at least 32 characters, shared by every replica. */
  readonly secret: string;
  /** `ROUTER_SESSION_ACCEPTED_KEYS`: secrets whose tokens are opened too, never sealed with. */
  readonly acceptedSecrets?: readonly string[];
  /** How long a token stays valid. */
  readonly ttlSeconds: number;
  /** Clock in milliseconds, for tests. */
  readonly now?: () => number;
}

/** Seals and opens session tokens with a key derived from the shared secret. */
export class SessionSealer {
  /** The sealing key first, then the accepted ones: `open` tries them in this order. */
  private readonly keys: readonly Buffer[];
  private readonly ttlSeconds: number;
  private readonly now: () => number;
  private readonly opened = new Map<string, SessionPayload>();

  constructor(options: SessionSealerOptions) {
    this.keys = [options.secret, ...(options.acceptedSecrets ?? [])].map((secret) =>
      Buffer.from(hkdfSync("sha256", secret, HKDF_SALT, HKDF_INFO, 32)),
    );
    this.ttlSeconds = options.ttlSeconds;
    this.now = options.now ?? Date.now;
  }

  /** A new token for `session`, with a fresh nonce and the current time. */
  seal(session: NewSession): { token: string; payload: SessionPayload } {
    const payload = {
      ...session,
      n: randomBytes(12).toString("base64url"),
      iat: Math.floor(this.now() / 1000),
    } as SessionPayload;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.keys[0]!, iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), "utf8"), cipher.final()]);
    const sealed = Buffer.concat([iv, body, cipher.getAuthTag()]);
    return { token: `${TOKEN_PREFIX}${sealed.toString("base64url")}`, payload };
  }

  /** The age of a payload in seconds. */
  ageOf(payload: SessionPayload): number {
    return Math.floor(this.now() / 1000) - payload.iat;
  }

  /** The payload of a valid, unexpired token, or undefined for anything else. */
  open(token: string): SessionPayload | undefined {
    if (typeof token !== "string") return undefined;
    const cached = this.opened.get(token);
    if (cached !== undefined) return this.fresh(cached) ? cached : undefined;
    const payload = this.decrypt(token);
    if (payload === undefined || !this.fresh(payload)) return undefined;
    if (this.opened.size >= OPENED_CACHE_SIZE) {
      const oldest = this.opened.keys().next().value;
      if (oldest !== undefined) this.opened.delete(oldest);
    }
    this.opened.set(token, payload);
    return payload;
  }

  private fresh(payload: SessionPayload): boolean {
    // A legacy SSE session lives exactly as long as its stream (the replica holding it answers
    // 404 once it is gone). Expiring its token would leave a client connected for longer than the
    // TTL stuck: its stream still open, so it never reconnects, and every POST refused.
    if (payload.t === "sse") return true;
    const age = Math.floor(this.now() / 1000) - payload.iat;
    // A minute of clock skew between replicas is tolerated for tokens "from the future".
    return age >= -60 && age <= this.ttlSeconds;
  }

  private decrypt(token: string): SessionPayload | undefined {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 8192) return undefined;
    const text = token.slice(TOKEN_PREFIX.length);
    const sealed = Buffer.from(text, "base64url");
    // One spelling per token: the decoder skips characters it does not know (and ignores the
    // last character's unused bits), which would give one session endless distinct ids.
    if (sealed.length < IV_BYTES + TAG_BYTES + 2 || sealed.toString("base64url") !== text) return undefined;
    for (const key of this.keys) {
      const payload = openWith(key, sealed);
      if (payload !== undefined) return payload;
    }
    return undefined;
  }
}

/** The payload `sealed` carries when `key` opens it (authenticated), else undefined. */
function openWith(key: Buffer, sealed: Buffer): SessionPayload | undefined {
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(AAD);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
    const parsed = SessionPayloadSchema.safeParse(JSON.parse(plain.toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Client capabilities as the token keeps them: whole when small, else reduced to their top-level
 * keys, which is what a gateway needs to know (does the client do sampling, roots, …).
 */
export function compactCapabilities(capabilities: Record<string, unknown>): Record<string, unknown> {
  if (JSON.stringify(capabilities).length <= MAX_CAPABILITIES_BYTES) return capabilities;
  return Object.fromEntries(Object.keys(capabilities).map((key) => [key, {}]));
}

/** Longest client name or version a token keeps: the header carrying it must stay small. */
export const MAX_CLIENT_INFO_CHARS = 64;

/**
 * The client's name and version as the token keeps them, cut to `MAX_CLIENT_INFO_CHARS` each: the
 * session id travels in a header on every request, and a long `clientInfo` would otherwise make it
 * larger than servers and balancers accept (431, or 502 through HAProxy).
 */
export function compactClientInfo(info: { name: string; version: string }): {
  name: string;
  version: string;
} {
  return {
    name: info.name.slice(0, MAX_CLIENT_INFO_CHARS),
    version: info.version.slice(0, MAX_CLIENT_INFO_CHARS),
  };
}

/** A random secret for a router started without `ROUTER_SESSION_KEY`. */
export function ephemeralSecret(): string {
  return randomBytes(32).toString("base64url");
}
