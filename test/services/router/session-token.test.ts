import fc from "fast-check";
import type { NewSession } from "../../../services/router/src/session-token";
import {
  compactCapabilities,
  compactClientInfo,
  MAX_CAPABILITIES_BYTES,
  SessionSealer,
  TOKEN_PREFIX,
} from "../../../services/router/src/session-token";

const KEY = "0123456789abcdef0123456789abcdef-router";
const GATEWAY: NewSession = {
  t: "gateway",
  pv: "2025-06-18",
  cc: { sampling: {} },
  ci: { name: "cursor", version: "1.0" },
};

/** A sealer whose clock the test sets. */
function sealer(
  options: { secret?: string; accepted?: string[]; ttlSeconds?: number; at?: { now: number } } = {},
): SessionSealer {
  const clock = options.at ?? { now: 1_800_000_000_000 };
  return new SessionSealer({
    secret: options.secret ?? KEY,
    acceptedSecrets: options.accepted ?? [],
    ttlSeconds: options.ttlSeconds ?? 3600,
    now: () => clock.now,
  });
}

describe("SessionSealer", () => {
  it("opens on another replica what one replica sealed, with a fresh nonce and the issue time", () => {
    // GIVEN two replicas sharing the key
    const [a, b] = [sealer(), sealer()];

    // WHEN one seals a session and the other opens it
    const { token, payload } = a.seal(GATEWAY);
    const opened = b.open(token);

    // THEN the other sees exactly what was sealed
    expect(opened).toStrictEqual({ ...GATEWAY, n: payload.n, iat: 1_800_000_000 });
    expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
    expect(/^[\x21-\x7e]+$/.test(token)).toBe(true);
    expect(a.seal(GATEWAY).payload.n).not.toBe(payload.n);
  });

  it("opens tokens of its accepted keys too, and seals with its own key only", () => {
    // GIVEN a replica sealing with NEW and accepting OLD, and one on OLD alone
    const OLD = "old-key-old-key-old-key-old-key-0123";
    const rotated = sealer({ accepted: [OLD] });
    const old = sealer({ secret: OLD });
    // WHEN each seals a session
    const fromOld = old.seal(GATEWAY);
    const fromRotated = rotated.seal(GATEWAY);
    // THEN the rotated replica opens both; what it seals opens with its own key, not the old one
    expect(rotated.open(fromOld.token)).toStrictEqual(fromOld.payload);
    expect(rotated.open(fromRotated.token)).toStrictEqual(fromRotated.payload);
    expect(sealer().open(fromRotated.token)).toStrictEqual(fromRotated.payload);
    expect(old.open(fromRotated.token)).toBeUndefined();
  });

  it("does not open a token sealed with another key, or garbage", () => {
    const token = sealer({ secret: "another-key-another-key-another-key" }).seal(GATEWAY).token;
    expect([
      sealer().open(token),
      sealer().open("v1.AAAA"),
      sealer().open("garbage"),
      sealer().open(""),
    ]).toStrictEqual([undefined, undefined, undefined, undefined]);
  });

  it("does not open a token that was altered anywhere", () => {
    const { token } = sealer().seal({
      t: "passthrough",
      s: "files",
      i: "http://10.0.0.7:11101/mcp",
      u: "abc",
    });
    const body = Buffer.from(token.slice(TOKEN_PREFIX.length), "base64url");
    fc.assert(
      fc.property(fc.nat(body.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const altered = Buffer.from(body);
        altered[at] = (altered[at] ?? 0) ^ flip;
        return sealer().open(`${TOKEN_PREFIX}${altered.toString("base64url")}`) === undefined;
      }),
    );
  });

  it("opens a token in its one spelling only, not with characters added or its alphabet changed", () => {
    // GIVEN a token whose text holds at least one character that differs between base64 alphabets
    let token = sealer().seal(GATEWAY).token;
    while (!/[-_]/.test(token)) token = sealer().seal(GATEWAY).token;
    const body = token.slice(TOKEN_PREFIX.length);
    const last = body.at(-1) ?? "A";
    // (the last character with its unused low bits changed decodes to the same bytes)
    const sameBytes = `${body.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) ^ 1)}`;
    const spellings = [
      `${TOKEN_PREFIX}!!!${body}`,
      `${token}!`,
      `${token}==`,
      `${TOKEN_PREFIX}${body.replace(/-/g, "+").replace(/_/g, "/")}`,
      ...(Buffer.from(sameBytes, "base64url").equals(Buffer.from(body, "base64url"))
        ? [`${TOKEN_PREFIX}${sameBytes}`]
        : []),
    ];

    // WHEN each other spelling is opened / THEN none opens, and the token itself does
    expect(spellings.map((spelling) => sealer().open(spelling))).toStrictEqual(
      spellings.map(() => undefined),
    );
    expect(sealer().open(token)).toBeDefined();
  });

  it("round-trips any passthrough session", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]{1,20}$/),
        fc.webUrl(),
        fc.string({ minLength: 1, maxLength: 80 }),
        (service, url, upstream) => {
          const session: NewSession = { t: "passthrough", s: service, i: url, u: upstream };
          const { token, payload } = sealer().seal(session);
          expect(sealer().open(token)).toStrictEqual({ ...session, n: payload.n, iat: 1_800_000_000 });
        },
      ),
    );
  });

  it("stops opening a token once it is older than the TTL", () => {
    // GIVEN a token sealed now, with a 60 s TTL
    const clock = { now: 1_800_000_000_000 };
    const s = sealer({ ttlSeconds: 60, at: clock });
    const { token } = s.seal(GATEWAY);

    // WHEN read 60 s and then 61 s later (the second read comes from the cache of opened tokens)
    clock.now += 60_000;
    const atTtl = s.open(token);
    clock.now += 1_000;
    const past = s.open(token);

    // THEN it opens until the TTL and not after
    expect([atTtl?.t, past]).toStrictEqual(["gateway", undefined]);
  });

  it("keeps opening a legacy SSE token past the TTL: the session lives as long as its stream", () => {
    // GIVEN an SSE stream's token sealed now, with a 60 s TTL
    const clock = { now: 1_800_000_000_000 };
    const s = sealer({ ttlSeconds: 60, at: clock });
    const { token } = s.seal({ t: "sse", o: "http://10.0.0.7:11090" });

    // WHEN read a day later
    clock.now += 86_400_000;

    // THEN it still names its stream's replica (which answers 404 once the stream is gone)
    expect(s.open(token)).toMatchObject({ t: "sse", o: "http://10.0.0.7:11090" });
  });
});

describe("compactCapabilities", () => {
  it("keeps small capabilities whole and reduces large ones to their top-level keys", () => {
    const small = { sampling: {}, roots: { listChanged: true } };
    const large = { sampling: {}, experimental: { blob: "x".repeat(MAX_CAPABILITIES_BYTES) } };
    expect([compactCapabilities(small), compactCapabilities(large)]).toStrictEqual([
      small,
      { sampling: {}, experimental: {} },
    ]);
  });
});

describe("compactClientInfo", () => {
  it("keeps at most 64 characters of the client's name and version", () => {
    expect([
      compactClientInfo({ name: "claude-code", version: "2.1.0" }),
      compactClientInfo({ name: "x".repeat(100), version: "1".repeat(65) }),
    ]).toStrictEqual([
      { name: "claude-code", version: "2.1.0" },
      { name: "x".repeat(64), version: "1".repeat(64) },
    ]);
  });
});
