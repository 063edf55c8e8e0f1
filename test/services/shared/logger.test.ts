import { loggableUrl, REDACTED } from "@mcp-platform/shared";
import { capturingLogger, fields } from "../../helpers/log-capture";

describe("createLogger", () => {
  it("writes one JSON line with level label, service and message", () => {
    // GIVEN a capturing logger
    const { logger, lines } = capturingLogger();

    // WHEN something is logged
    logger.info({ port: 3000 }, "listening");

    // THEN the line carries the label, the service, the fields and an ISO time
    expect(fields(lines, ["level", "service", "port", "msg"])).toStrictEqual([
      { level: "info", service: "test", port: 3000, msg: "listening" },
    ]);
    expect(new Date(String(lines[0]?.time)).toISOString()).toStrictEqual(lines[0]?.time);
  });

  it("redacts credential headers and secret variables wherever they are logged", () => {
    // GIVEN a capturing logger
    const { logger, lines } = capturingLogger();

    // WHEN request headers, an env object and a top-level secret are logged
    logger.info(
      {
        req: {
          headers: { authorization: "Bearer abc", cookie: "sid=1", "x-consul-token": "t", accept: "*/*" },
        },
        upstream: { headers: { "proxy-authorization": "Basic xyz", "set-cookie": "a=b" } },
        env: {
          ROUTER_SESSION_KEY: "k".repeat(32),
          ROUTER_AUTH_TOKENS: "tok",
          MCP_SERVER: "{}",
          PORT: "3000",
        },
        CONSUL_HTTP_TOKEN: "acl",
      },
      "config",
    );

    // THEN every secret is replaced and everything else is kept
    expect(fields(lines, ["req", "upstream", "env", "CONSUL_HTTP_TOKEN"])).toStrictEqual([
      {
        req: {
          headers: { authorization: REDACTED, cookie: REDACTED, "x-consul-token": REDACTED, accept: "*/*" },
        },
        upstream: { headers: { "proxy-authorization": REDACTED, "set-cookie": REDACTED } },
        env: {
          ROUTER_SESSION_KEY: REDACTED,
          ROUTER_AUTH_TOKENS: REDACTED,
          MCP_SERVER: REDACTED,
          PORT: "3000",
        },
        CONSUL_HTTP_TOKEN: REDACTED,
      },
    ]);
  });

  it("logs a session id sent as a header as redacted", () => {
    // GIVEN a capturing logger / WHEN request headers with a session id are logged
    const { logger, lines } = capturingLogger();
    logger.info({ req: { headers: { "mcp-session-id": "v1.sealed", accept: "*/*" } } }, "request");

    // THEN the session id is replaced
    expect(fields(lines, ["req"])).toStrictEqual([
      { req: { headers: { "mcp-session-id": REDACTED, accept: "*/*" } } },
    ]);
  });

  it.each([
    ["/messages?sessionId=abc", `/messages?sessionId=${REDACTED}`],
    ["/messages?s=v1.sealed&sessionId=abc", `/messages?s=${REDACTED}&sessionId=${REDACTED}`],
    [
      "/x?SESSIONID=a&token=b&access_token=c",
      `/x?SESSIONID=${REDACTED}&token=${REDACTED}&access_token=${REDACTED}`,
    ],
    ["/service/mcp-echo/trend?minutes=5", "/service/mcp-echo/trend?minutes=5"],
    ["/mcp", "/mcp"],
    ["/messages?flag&s", `/messages?flag&s=${REDACTED}`],
  ])("logs the URL %j as %j", (url, logged) => {
    expect(loggableUrl(url)).toBe(logged);
  });

  it("drops lines below the level", () => {
    // GIVEN a warn-level logger
    const { logger, lines } = capturingLogger("warn");

    // WHEN info and warn lines are logged
    logger.info("hidden");
    logger.warn("shown");

    // THEN only the warning is written
    expect(fields(lines, ["msg"])).toStrictEqual([{ msg: "shown" }]);
  });
});
