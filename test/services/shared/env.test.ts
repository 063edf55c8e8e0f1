import {
  commaListField,
  commonEnvSchema,
  EnvError,
  integerField,
  jsonField,
  loadEnv,
  mcpTransportEnvShape,
} from "@mcp-platform/shared";
import fc from "fast-check";
import { z } from "zod";

const schema = commonEnvSchema({ port: 3000, serviceName: "router" });

/** The EnvError `run` throws (fails the test if it throws nothing or something else). */
function envError(run: () => unknown): EnvError {
  try {
    run();
  } catch (error) {
    if (error instanceof EnvError) return error;
    throw error;
  }
  throw new Error("expected an EnvError");
}

describe("commonEnvSchema + loadEnv", () => {
  it("applies the defaults when nothing is set", () => {
    // GIVEN an empty environment
    const env = {};

    // WHEN it is loaded
    const loaded = loadEnv(schema, env);

    // THEN every default is filled in and the optional variables are absent
    expect(loaded).toStrictEqual({
      HOST: "0.0.0.0",
      PORT: 3000,
      SERVICE_NAME: "router",
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT_MS: 25_000,
      CONSUL_RESYNC_INTERVAL_MS: 30_000,
    });
  });

  it("parses every variable and treats empty strings as unset", () => {
    // GIVEN a full environment, with SERVICE_ADDRESS set but empty
    const env = {
      HOST: "127.0.0.1",
      PORT: "0",
      SERVICE_NAME: "mcp-files",
      CONSUL_HTTP_ADDR: "consul:8500",
      CONSUL_HTTP_TOKEN: "acl-token",
      SERVICE_ADDRESS: "",
      LOG_LEVEL: "debug",
      SHUTDOWN_TIMEOUT_MS: "5000",
      CONSUL_RESYNC_INTERVAL_MS: "15000",
      UNRELATED: "ignored",
    };

    // WHEN it is loaded
    const loaded = loadEnv(schema, env);

    // THEN values are typed, a scheme-less Consul address means http, and unknown names are dropped
    expect(loaded).toStrictEqual({
      HOST: "127.0.0.1",
      PORT: 0,
      SERVICE_NAME: "mcp-files",
      CONSUL_HTTP_ADDR: "http://consul:8500",
      CONSUL_HTTP_TOKEN: "acl-token",
      LOG_LEVEL: "debug",
      SHUTDOWN_TIMEOUT_MS: 5000,
      CONSUL_RESYNC_INTERVAL_MS: 15_000,
    });
  });

  it.each([
    ["http://consul:8500/", "http://consul:8500"],
    ["https://consul.internal:8501", "https://consul.internal:8501"],
    ["127.0.0.1:8500", "http://127.0.0.1:8500"],
  ])("normalises CONSUL_HTTP_ADDR %s to %s", (given, expected) => {
    // GIVEN / WHEN
    const loaded = loadEnv(schema, { CONSUL_HTTP_ADDR: given });

    // THEN
    expect(loaded.CONSUL_HTTP_ADDR).toStrictEqual(expected);
  });

  it("names every bad variable and its value in one error", () => {
    // GIVEN four bad variables
    const env = {
      PORT: "abc",
      SERVICE_NAME: "Bad_Name",
      CONSUL_HTTP_ADDR: "ftp://consul",
      LOG_LEVEL: "loud",
    };

    // WHEN it is loaded
    const error = envError(() => loadEnv(schema, env));

    // THEN each is reported, in schema order, with its value
    expect(error.issues).toStrictEqual([
      {
        variable: "PORT",
        path: "PORT",
        message: "must be an integer between 0 and 65535",
        shownValue: '"abc"',
      },
      {
        variable: "SERVICE_NAME",
        path: "SERVICE_NAME",
        message: "must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
        shownValue: '"Bad_Name"',
      },
      {
        variable: "CONSUL_HTTP_ADDR",
        path: "CONSUL_HTTP_ADDR",
        message: "must be an http:// or https:// URL",
        shownValue: '"ftp://consul"',
      },
      {
        variable: "LOG_LEVEL",
        path: "LOG_LEVEL",
        message: "must be one of fatal, error, warn, info, debug, trace, silent",
        shownValue: '"loud"',
      },
    ]);
    expect(error.message).toStrictEqual(
      'invalid environment: PORT must be an integer between 0 and 65535 (got "abc"); ' +
        "SERVICE_NAME must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-' " +
        '(got "Bad_Name"); CONSUL_HTTP_ADDR must be an http:// or https:// URL (got "ftp://consul"); ' +
        'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    );
  });

  it("never shows the value of a secret variable, even when a message quotes it", () => {
    // GIVEN a schema whose secret variables fail, one with a message that repeats its input
    const withSecrets = schema.extend({
      ROUTER_SESSION_KEY: z.string().min(32, { error: "must be at least 32 characters" }),
      ROUTER_AUTH_TOKENS: z
        .string()
        .refine(() => false, { error: (issue) => `rejected ${String(issue.input)}` }),
    });
    const env = { ROUTER_SESSION_KEY: "hunter2", ROUTER_AUTH_TOKENS: "token-abc" };

    // WHEN it is loaded
    const error = envError(() => loadEnv(withSecrets, env));

    // THEN the variables are named but their values never appear
    expect(error.message).toStrictEqual(
      "invalid environment: ROUTER_SESSION_KEY must be at least 32 characters (got <redacted>); " +
        "ROUTER_AUTH_TOKENS rejected <redacted> (got <redacted>)",
    );
  });

  it("keeps a message whole when a secret variable is blank", () => {
    // GIVEN a secret JSON variable set to a blank value
    const withSecret = schema.extend({ MCP_SERVER: jsonField(z.object({ command: z.string() })) });

    // WHEN it is loaded / THEN the message reads as written, the value still not shown
    expect(envError(() => loadEnv(withSecret, { MCP_SERVER: " " })).message).toStrictEqual(
      "invalid environment: MCP_SERVER must be valid JSON (got <redacted>)",
    );
  });

  it("reports a missing required variable as unset", () => {
    // GIVEN a schema with a required variable and no value for it
    const required = schema.extend({ NEEDED: z.string() });

    // WHEN it is loaded
    const error = envError(() => loadEnv(required, {}));

    // THEN
    expect(error.message).toStrictEqual("invalid environment: NEEDED is required (got <unset>)");
  });

  it("shows a long value cut to 120 characters", () => {
    // GIVEN a long invalid value
    const env = { HOST: "x".repeat(200) + " y" };

    // WHEN it is loaded
    const error = envError(() => loadEnv(schema, env));

    // THEN
    expect(error.issues.map((issue) => issue.shownValue)).toStrictEqual([`"${"x".repeat(120)}…"`]);
  });
});

describe("mcpTransportEnvShape", () => {
  const transport = z.object(mcpTransportEnvShape);

  it("parses origins and the body cap, with defaults", () => {
    // GIVEN / WHEN
    const defaults = loadEnv(transport, {});
    const given = loadEnv(transport, {
      MCP_ALLOWED_ORIGINS: " https://app.example.com, http://localhost:3000 ,",
      MCP_MAX_BODY_BYTES: "2048",
    });

    // THEN
    expect(defaults).toStrictEqual({
      MCP_ALLOWED_ORIGINS: [],
      MCP_MAX_BODY_BYTES: 1_048_576,
      MCP_ALLOWED_HOSTS: [],
    });
    expect(given).toStrictEqual({
      MCP_ALLOWED_ORIGINS: ["https://app.example.com", "http://localhost:3000"],
      MCP_MAX_BODY_BYTES: 2048,
      MCP_ALLOWED_HOSTS: [],
    });
  });

  it("names the bad origin by its position", () => {
    // GIVEN an origin with a path
    const env = { MCP_ALLOWED_ORIGINS: "https://ok.example.com,https://bad.example.com/app" };

    // WHEN / THEN
    expect(
      envError(() => loadEnv(transport, env)).issues.map((issue) => [issue.path, issue.message]),
    ).toStrictEqual([
      ["MCP_ALLOWED_ORIGINS[1]", "must be an origin like https://host[:port] (no path, no trailing slash)"],
    ]);
  });
});

describe("field parsers (properties)", () => {
  it("integerField accepts exactly the integers in range, written in decimal", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1_000_000, max: 1_000_000 }), (n) => {
        // GIVEN a field for 0..65535 / WHEN n is parsed
        const result = integerField(0, 65535).safeParse(String(n));
        // THEN it succeeds with n exactly when n is in range
        expect(result.success ? result.data : "rejected").toStrictEqual(
          n >= 0 && n <= 65535 ? n : "rejected",
        );
      }),
    );
  });

  it("integerField rejects anything that is not plain digits", () => {
    fc.assert(
      fc.property(
        fc.string().filter((text) => !/^\s*-?\d+\s*$/.test(text)),
        (text) => {
          expect(integerField(0).safeParse(text).success).toStrictEqual(false);
        },
      ),
    );
  });

  it("commaListField returns the non-empty trimmed items in order", () => {
    const item = fc.stringMatching(/^[a-z0-9:/.-]{1,12}$/);
    fc.assert(
      fc.property(fc.array(item), fc.array(fc.constantFrom("", " ", "  ")), (items, pads) => {
        // GIVEN items joined with commas, padded with spaces and with an empty item at the end
        const text =
          items.map((value, i) => `${pads[i % Math.max(1, pads.length)] ?? ""}${value} `).join(",") + ",";
        // WHEN parsed
        const parsed = commaListField(z.string()).parse(text);
        // THEN the items come back unchanged
        expect(parsed).toStrictEqual(items);
      }),
    );
  });
});
