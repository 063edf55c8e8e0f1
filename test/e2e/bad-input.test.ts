/**
 * Bad input through the real gateway (HAProxy → 3 routers, bearer tokens on): each gets the
 * right HTTP status and JSON-RPC error, and the routers keep serving afterwards.
 */
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type { Platform } from "../../scripts/local/launcher";
import { launchPlatform } from "../../scripts/local/launcher";
import { SessionSealer } from "../../services/router/src/session-token";
import type { RawAnswer } from "../helpers/e2e-clients";
import {
  bearer,
  E2E_PLATFORM,
  MCP_POST_HEADERS,
  messageOf,
  metricSum,
  rawRequest,
  streamableClient,
  textOf,
} from "../helpers/e2e-clients";

jest.setTimeout(120_000);

const TOKEN = "e2e-token-abcdefghijklmnop";
const AUTH = bearer(TOKEN);
let platform: Platform;
let session: string;

const initialize = JSON.stringify({
  jsonrpc: "2.0",
  id: 0,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});
const toolsList = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });

/** POST `body` to the gateway's `/mcp` with the token and extra headers. */
function post(body: string, headers: Record<string, string> = {}, path = "/mcp"): Promise<RawAnswer> {
  return rawRequest(`${platform.gatewayUrl}${path}`, {
    method: "POST",
    headers: { ...MCP_POST_HEADERS, ...AUTH, ...headers },
    body,
  });
}

/** Status and JSON-RPC error code/message of an answer. */
function errorOf(answer: RawAnswer): [number, unknown, unknown] {
  const error = (messageOf(answer).error ?? {}) as { code?: unknown; message?: unknown };
  return [answer.status, error.code, error.message];
}

beforeAll(async () => {
  platform = await launchPlatform({ ...E2E_PLATFORM, routerEnv: { ROUTER_AUTH_TOKENS: TOKEN } });
  session = String((await post(initialize)).headers["mcp-session-id"]);
});

afterAll(async () => {
  await platform?.stop();
});

describe("bad input at the gateway", () => {
  it("answers a body that is not JSON with 400 and a JSON-RPC parse error", async () => {
    expect(errorOf(await post("{not json", { "mcp-session-id": session }))).toStrictEqual([
      400,
      -32700,
      "Parse error: the body is not valid JSON (or it holds a __proto__ or constructor.prototype key, which is refused)",
    ]);
  });

  it("answers JSON that is not JSON-RPC with 400 Invalid Request", async () => {
    expect(errorOf(await post('{"hello": "world"}', { "mcp-session-id": session }))).toStrictEqual([
      400,
      -32600,
      "Invalid Request: not a JSON-RPC 2.0 message",
    ]);
  });

  it("answers an unknown tool with a JSON-RPC invalid-params error", async () => {
    const client = await streamableClient(`${platform.gatewayUrl}/mcp`, TOKEN);
    const call = client.callTool({ name: "everything__no-such-tool", arguments: {} });
    await expect(call).rejects.toThrow(McpError);
    await expect(call).rejects.toMatchObject({
      code: -32602,
      message: "MCP error -32602: Unknown tool: everything__no-such-tool",
    });
    await client.close();
  });

  it("refuses a foreign Origin and a public Host with 403 (DNS-rebinding protection)", async () => {
    const origin = await post(toolsList, { "mcp-session-id": session, origin: "https://evil.example" });
    const host = await post(toolsList, { "mcp-session-id": session, host: "rebind.evil.example" });
    expect([errorOf(origin), errorOf(host)]).toStrictEqual([
      [403, -32000, 'Forbidden: Origin "https://evil.example" is not allowed'],
      [403, -32000, 'Forbidden: Host "rebind.evil.example" is not allowed'],
    ]);
  });

  it("answers a missing session with 400 and an unknown or foreign one with 404", async () => {
    const foreign = new SessionSealer({ secret: "another-key-another-key-another-key", ttlSeconds: 60 }).seal(
      {
        t: "gateway",
        pv: "2025-06-18",
        cc: {},
      },
    ).token;
    expect([
      errorOf(await post(toolsList)),
      errorOf(await post(toolsList, { "mcp-session-id": "v1.bm90LWEtc2Vzc2lvbg" })),
      errorOf(await post(toolsList, { "mcp-session-id": foreign })),
    ]).toStrictEqual([
      [400, -32000, "Bad Request: Mcp-Session-Id header is required"],
      [404, -32001, "Session not found"],
      [404, -32001, "Session not found"],
    ]);
  });

  it("refuses a body over the limit with 413", async () => {
    const huge = JSON.stringify({
      jsonrpc: "2.0",
      id: 2,
      method: "ping",
      params: { pad: "x".repeat(1_100_000) },
    });
    expect(errorOf(await post(huge, { "mcp-session-id": session }))).toStrictEqual([
      413,
      -32600,
      "Request body exceeds 1048576 bytes",
    ]);
  });

  it("asks for a bearer token with 401 and WWW-Authenticate, and answers the metadata probe", async () => {
    // WHEN a client comes without a token, with a wrong one, and probes the metadata
    const none = await rawRequest(`${platform.gatewayUrl}/mcp`, {
      method: "POST",
      headers: { ...MCP_POST_HEADERS },
      body: initialize,
    });
    const wrong = await post(initialize, { authorization: "Bearer wrong-token-wrong-token" });
    const metadata = await rawRequest(`${platform.gatewayUrl}/.well-known/oauth-protected-resource`);

    // THEN both get 401 with a challenge naming the metadata, which describes the gateway
    const metadataUrl = `${platform.gatewayUrl}/.well-known/oauth-protected-resource`;
    expect([errorOf(none), none.headers["www-authenticate"]]).toStrictEqual([
      [401, -32000, "Unauthorized: a bearer token is required"],
      `Bearer realm="mcp-platform", resource_metadata="${metadataUrl}"`,
    ]);
    expect([errorOf(wrong), wrong.headers["www-authenticate"]]).toStrictEqual([
      [401, -32000, "Unauthorized: the bearer token is not valid"],
      `Bearer realm="mcp-platform", error="invalid_token", resource_metadata="${metadataUrl}"`,
    ]);
    expect([metadata.status, JSON.parse(metadata.text)]).toStrictEqual([
      200,
      {
        resource: `${platform.gatewayUrl}/mcp`,
        resource_name: "MCP Platform gateway",
        bearer_methods_supported: ["header"],
      },
    ]);
  });

  it("answers GET /mcp without a session with 405, and bad legacy SSE posts with 400 and 404", async () => {
    const get = await rawRequest(`${platform.gatewayUrl}/mcp`, {
      headers: { accept: "text/event-stream", ...AUTH },
    });
    const noSession = await post(toolsList, {}, "/messages");
    const unknown = await post(toolsList, {}, "/messages?s=v1.AAAA&sessionId=x");
    const repeated = await post(toolsList, {}, "/messages?s=a&s=b&sessionId=x");
    expect([
      errorOf(get),
      get.headers.allow,
      errorOf(noSession),
      errorOf(unknown),
      errorOf(repeated),
    ]).toStrictEqual([
      [405, -32000, "Method Not Allowed: open a session with POST first"],
      "POST, GET, DELETE",
      [400, -32000, "Bad Request: one s and one sessionId query parameter are required"],
      [404, -32001, "Session not found"],
      [400, -32000, "Bad Request: one s and one sessionId query parameter are required"],
    ]);
  });

  it("answers an unknown service and a session of another endpoint on the passthrough with 404", async () => {
    const unknown = await post(initialize, {}, "/services/nope/mcp");
    const wrongKind = await post(toolsList, { "mcp-session-id": session }, "/services/everything/mcp");
    expect([errorOf(unknown), errorOf(wrongKind)]).toStrictEqual([
      [404, -32000, "Unknown service: nope"],
      [404, -32001, "Session not found"],
    ]);
  });

  it("refuses JSON nested deeper than 128 levels with 400, and counts it against no instance", async () => {
    // GIVEN bodies nesting 5,000 arrays (about 10 KB): deeper than any real call, deep enough to
    // overflow the stack of a recursive walk such as JSON.stringify
    const deep = "[".repeat(5000) + "]".repeat(5000);
    const call = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"everything__echo","arguments":{"message":"x","d":${deep}}}}`;
    const cancel = `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${deep}}}`;
    const init = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"experimental":{"x":${deep}}},"clientInfo":{"name":"t","version":"1"}}}`;
    const inSession = { "mcp-session-id": session };
    const ejectionsBefore = await Promise.all(
      platform.routers.map((r) => metricSum(r, "router_instance_ejections_total")),
    );

    // WHEN each is sent (the call three times per replica: enough failures to eject an instance,
    // were they counted as the instance's)
    const answers = [];
    for (let i = 0; i < 3 * platform.routers.length; i++) answers.push(await post(call, inSession));
    answers.push(await post(cancel, inSession), await post(init));

    // THEN each is refused as Invalid Request, and no router ejected an instance for it
    const refused = [400, -32600, "Invalid Request: JSON nested deeper than 128 levels"];
    expect(answers.map(errorOf)).toStrictEqual(answers.map(() => refused));
    const ejectionsAfter = await Promise.all(
      platform.routers.map((r) => metricSum(r, "router_instance_ejections_total")),
    );
    expect(ejectionsAfter).toStrictEqual(ejectionsBefore);
  });

  it("refuses a DELETE with an unsupported protocol version, as every other request of a session", async () => {
    const answer = await rawRequest(`${platform.gatewayUrl}/mcp`, {
      method: "DELETE",
      headers: { ...AUTH, "mcp-session-id": session, "mcp-protocol-version": "1999-01-01" },
    });
    expect(errorOf(answer)).toStrictEqual([
      400,
      -32000,
      expect.stringContaining("Bad Request: Unsupported protocol version: 1999-01-01"),
    ]);
  });

  it("answers a passthrough POST without a session as the instance would", async () => {
    // GIVEN requests without a session id to the everything service's passthrough
    const path = "/services/everything/mcp";

    // WHEN an empty batch, an initialize without its params and a tools/list are sent
    const empty = await post("[]", {}, path);
    const badInit = await post(
      JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: {} }),
      {},
      path,
    );
    const list = await post(toolsList, {}, path);

    // THEN the JSON-RPC shape is checked first, the instance itself judges the initialize, and
    // only a valid non-initialize message hears about the missing session
    expect([errorOf(empty), errorOf(badInit), errorOf(list)]).toStrictEqual([
      [400, -32600, "Invalid Request: empty batch"],
      [400, -32602, "Invalid params: initialize needs protocolVersion, capabilities and clientInfo"],
      [400, -32000, "Bad Request: Mcp-Session-Id header is required"],
    ]);
  });

  it("keeps serving on every replica after all of that", async () => {
    // GIVEN a client after the bad requests above
    const client = await streamableClient(`${platform.gatewayUrl}/mcp`, TOKEN);

    // WHEN it calls a tool through every replica in turn (round-robin: one call each, and more)
    const served = () =>
      Promise.all(
        platform.routers.map((r) => metricSum(r, "router_upstream_requests_total", { method: "tools/call" })),
      );
    const before = await served();
    const texts: string[] = [];
    for (let i = 0; i < 6; i++) {
      texts.push(
        textOf(await client.callTool({ name: "everything__echo", arguments: { message: `ok${i}` } })),
      );
    }
    await client.close();

    // THEN every call worked, each replica served some of them, and no router exited
    const after = await served();
    expect(texts).toStrictEqual(["ok0", "ok1", "ok2", "ok3", "ok4", "ok5"].map((m) => `Echo: ${m}`));
    expect(after.map((n, i) => n - (before[i] ?? 0) > 0)).toStrictEqual([true, true, true]);
    expect(platform.routers.map((r) => r.done)).toStrictEqual([false, false, false]);
  });
});
