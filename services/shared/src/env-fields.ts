/**
 * Reusable zod field builders for environment variables.
 *
 * Every environment variable arrives as a string, so each builder starts from `z.string()` and
 * turns it into the typed value a service wants. Messages are phrased to follow the variable
 * name ("PORT must be an integer between 0 and 65535"), because `loadEnv` prefixes them with it,
 * and they never repeat the input: `loadEnv` decides whether a value may be shown.
 */
import { isIP } from "node:net";
import { z } from "zod";

/** Largest integer any builder accepts; beyond this `Number()` loses precision. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * A decimal integer within `[min, max]`.
 *
 * `z.coerce.number()` would accept "1e3", "0x10" and " " (as 0); services only want plain digits.
 */
export function integerField(min: number, max: number = MAX_SAFE) {
  const message = `must be an integer between ${min} and ${max}`;
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, { error: message })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: message }).max(max, { error: message }));
}

/** A TCP port: an integer 0..65535 (0 asks the OS for a free port). */
export function portField() {
  return integerField(0, 65535);
}

/**
 * A comma-separated list. Items are trimmed and empty items dropped, so "a, b,,c" is
 * `["a", "b", "c"]`; each item is then validated by `item`.
 */
export function commaListField<T extends z.ZodType<unknown, string>>(item: T) {
  return z
    .string()
    .transform((text) =>
      text
        .split(",")
        .map((part) => part.trim())
        .filter((part) => part.length > 0),
    )
    .pipe(z.array(item));
}

/** The name of an environment variable (letters, digits and `_`, not starting with a digit). */
export function envNameField() {
  return z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must list environment variable names" });
}

/** JSON text whose parsed value must satisfy `schema`. */
export function jsonField<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        // JSON.parse's own message quotes the input, which may be secret: say only what is wrong.
        ctx.addIssue({ code: "custom", message: "must be valid JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/**
 * An IP address or host name (no scheme, no port). A colon is only part of an IPv6 literal
 * (`::1`, `[::1]`): `host:3000` is refused, since what compares against it never has a port.
 */
export function hostField() {
  const error = "must be an IP address or host name (no scheme, no port)";
  return z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._:[\]-]+$/, { error, abort: true })
    .refine((value) => !value.includes(":") || isIP(value.replace(/^\[(.*)\]$/, "$1")) === 6, { error });
}

/** An `http://` or `https://` URL. */
export function httpUrlField() {
  return z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });
}

/**
 * Consul's standard `CONSUL_HTTP_ADDR`: `http(s)://host:port`, or `host:port` as the Consul CLI
 * also accepts, which means plain HTTP. The result is a URL without a trailing slash.
 */
export function consulAddressField() {
  return z
    .string()
    .trim()
    .transform((text) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`))
    .pipe(httpUrlField())
    .transform((url) => url.replace(/\/+$/, ""));
}

/**
 * A browser origin such as `https://app.example.com` or `http://localhost:3000`: scheme, host
 * and optional port, nothing else, exactly as a browser sends it in the `Origin` header.
 */
export function originField() {
  return z.string().refine(
    (text) => {
      try {
        const url = new URL(text);
        return (url.protocol === "http:" || url.protocol === "https:") && url.origin === text;
      } catch {
        return false;
      }
    },
    { error: "must be an origin like https://host[:port] (no path, no trailing slash)" },
  );
}

/** A service id or name as Consul DNS and the router's `<service>__<tool>` names allow. */
export const SERVICE_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A service id: lower-case letters, digits and dashes, 1–63 characters, no leading/trailing dash. */
export function serviceIdField() {
  return z.string().regex(SERVICE_ID_PATTERN, {
    error: "must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
  });
}

/**
 * A secret the router seals session ids with: long enough for HKDF to make a strong key of it,
 * and without commas or whitespace, so that it can move to `ROUTER_SESSION_ACCEPTED_KEYS` (a
 * comma-separated list) when it is rotated out (and a key of spaces is no key).
 */
export function sessionSecretField() {
  return z
    .string()
    .min(32, { error: "must be at least 32 characters" })
    .regex(/^[^,\s]*$/, { error: "must not contain commas or whitespace" });
}

/** `ROUTER_SESSION_ACCEPTED_KEYS`: comma-separated further session secrets. */
export function acceptedSessionSecretsField() {
  return commaListField(sessionSecretField());
}

/** A bearer token the router accepts: long enough to resist guessing, no whitespace. */
const authTokenField = () =>
  z
    .string()
    .min(16, { error: "tokens must be at least 16 characters" })
    .regex(/^\S+$/, { error: "tokens must not contain whitespace" });

/**
 * `ROUTER_AUTH_TOKENS`: the comma-separated bearer tokens the router requires on its MCP
 * endpoints. The router checks them; the network monitor presents the first one when it probes
 * a router, so both read the same secret.
 */
export function routerAuthTokensField() {
  return commaListField(authTokenField()).refine((tokens) => tokens.length > 0, {
    error: "must list at least one token when set",
  });
}
