/**
 * CORS in a real browser: headless Debian chromium, driven by playwright-core, opens a page on
 * one loopback origin and calls, with `fetch`, an mcp-server (a real process) and a router (with
 * bearer tokens) on others, as a web MCP client does. An allowed origin gets through the
 * preflight, reads the session id and the answers; another origin is kept out by the browser.
 */
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../../helpers/browser";
import type { McpServerUnderTest } from "../../helpers/mcp-server-process";
import { RAW_PROTOCOL, startMcpServer, stopMcpServers } from "../../helpers/mcp-server-process";
import type { TestRouter } from "../../helpers/router-app";
import { startRouter } from "../../helpers/router-app";

jest.setTimeout(60_000);

const TOKEN = "browser-test-token-0123456789";

/** What the page reports of one MCP exchange: initialize, initialized, then one tool call. */
interface Exchange {
  readonly sessionId: boolean;
  readonly status: number;
  readonly answer: unknown;
}

/** What the page reports when a request fails before any answer (the browser refused it). */
interface Refusal {
  readonly refused: string;
}

/** Where the page sends its calls. */
interface Target {
  readonly url: string;
  readonly tool: string;
  readonly headers: Record<string, string>;
}

/** A server answering an empty page, so a page has this origin. */
async function pageOrigin(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end("<html></html>"),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Runs initialize, initialized and a call of `target.tool` from `page` with `fetch`. */
function exchange(page: Page, target: Target): Promise<Exchange | Refusal> {
  return page.evaluate(
    async ({ url, tool, headers, protocol }) => {
      const post = (body: unknown, extra: Record<string, string> = {}) =>
        fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            ...headers,
            ...extra,
          },
          body: JSON.stringify(body),
        });
      try {
        const init = await post({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: protocol, capabilities: {}, clientInfo: { name: "page", version: "1" } },
        });
        const session = init.headers.get("mcp-session-id") ?? "";
        const inSession = { "mcp-session-id": session, "mcp-protocol-version": protocol };
        await post({ jsonrpc: "2.0", method: "notifications/initialized" }, inSession);
        const call = await post(
          {
            jsonrpc: "2.0",
            id: 2,
            method: "tools/call",
            params: { name: tool, arguments: { message: "from a page" } },
          },
          inSession,
        );
        return { sessionId: session !== "", status: call.status, answer: await call.json() };
      } catch (error) {
        return { refused: String(error) };
      }
    },
    { ...target, protocol: RAW_PROTOCOL },
  );
}

describe("MCP endpoints from a page in headless chromium", () => {
  let allowedPage: { server: Server; origin: string };
  let otherPage: { server: Server; origin: string };
  let mcp: McpServerUnderTest;
  let router: TestRouter;
  let browser: Browser;

  beforeAll(async () => {
    [allowedPage, otherPage] = await Promise.all([pageOrigin(), pageOrigin()]);
    // GIVEN an mcp-server that allows one page origin, and a router with tokens that allows
    // loopback origins (none configured)
    mcp = await startMcpServer({ MCP_ALLOWED_ORIGINS: allowedPage.origin });
    router = await startRouter({
      ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [`${mcp.base}/mcp`] }),
      ROUTER_AUTH_TOKENS: TOKEN,
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await router?.app.close();
    if (mcp !== undefined) await stopMcpServers(mcp);
    for (const page of [allowedPage, otherPage]) page?.server.close();
  });

  /** A fresh page on `origin`. */
  async function pageAt(origin: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(origin);
    return page;
  }

  const echoed = { jsonrpc: "2.0", id: 2, result: { content: [{ type: "text", text: "from a page" }] } };

  it("lets a page on an allowed origin open a session and call a tool on the mcp-server", async () => {
    const page = await pageAt(allowedPage.origin);
    const result = await exchange(page, { url: `${mcp.base}/mcp`, tool: "echo", headers: {} });
    // THEN the preflights passed, the session id was readable and the answer came back
    expect(result).toStrictEqual({ sessionId: true, status: 200, answer: echoed });
  });

  it("lets a page call the router with its bearer token, the preflight needing none", async () => {
    const page = await pageAt(allowedPage.origin);
    const result = await exchange(page, {
      url: `${router.url}/mcp`,
      tool: "echo__echo",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(result).toStrictEqual({ sessionId: true, status: 200, answer: echoed });
  });

  it("lets a page use a service through the router's passthrough", async () => {
    const page = await pageAt(allowedPage.origin);
    const result = await exchange(page, {
      url: `${router.url}/services/echo/mcp`,
      tool: "echo",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(result).toStrictEqual({ sessionId: true, status: 200, answer: echoed });
  });

  it("lets a page hold a legacy SSE session with EventSource and post its messages", async () => {
    const page = await pageAt(allowedPage.origin);
    // WHEN the page opens /sse and posts a call to the endpoint it announces
    const answer = await page.evaluate(
      async ({ base, protocol }) =>
        new Promise<unknown>((resolve, reject) => {
          const source = new EventSource(`${base}/sse`);
          const timer = setTimeout(() => reject(new Error("no answer on the stream")), 10_000);
          const post = (endpoint: string, body: unknown) =>
            fetch(new URL(endpoint, base), {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify(body),
            });
          source.addEventListener("endpoint", (event) => {
            const endpoint = (event as MessageEvent<string>).data;
            void post(endpoint, {
              jsonrpc: "2.0",
              id: 1,
              method: "initialize",
              params: {
                protocolVersion: protocol,
                capabilities: {},
                clientInfo: { name: "page", version: "1" },
              },
            })
              .then(() => post(endpoint, { jsonrpc: "2.0", method: "notifications/initialized" }))
              .then(() =>
                post(endpoint, {
                  jsonrpc: "2.0",
                  id: 2,
                  method: "tools/call",
                  params: { name: "echo", arguments: { message: "from a page" } },
                }),
              );
          });
          source.addEventListener("message", (event) => {
            const message = JSON.parse((event as MessageEvent<string>).data) as { id?: number };
            if (message.id !== 2) return;
            clearTimeout(timer);
            source.close();
            resolve(message);
          });
          source.onerror = () => {
            clearTimeout(timer);
            source.close();
            reject(new Error("the stream failed"));
          };
        }),
      { base: mcp.base, protocol: RAW_PROTOCOL },
    );
    // THEN the answer came on the stream the page holds
    expect(answer).toStrictEqual(echoed);
  });

  it("shows a page the router's 401 challenge and lets it read the resource metadata", async () => {
    const page = await pageAt(allowedPage.origin);
    // WHEN the page calls without a token, then reads where the challenge points
    const seen = await page.evaluate(async (url) => {
      const denied = await fetch(`${url}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: "{}",
      });
      const challenge = denied.headers.get("www-authenticate") ?? "";
      const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1] ?? "";
      const metadata = (await (await fetch(metadataUrl)).json()) as { resource?: string };
      return { status: denied.status, metadataUrl, resource: metadata.resource };
    }, router.url);
    // THEN both were readable from the page
    expect(seen).toStrictEqual({
      status: 401,
      metadataUrl: `${router.url}/.well-known/oauth-protected-resource`,
      resource: `${router.url}/mcp`,
    });
  });

  it("keeps a page on another origin out: the browser refuses to hand it anything", async () => {
    const page = await pageAt(otherPage.origin);
    const result = await exchange(page, { url: `${mcp.base}/mcp`, tool: "echo", headers: {} });
    expect(result).toStrictEqual({ refused: "TypeError: Failed to fetch" });
  });
});
