import { REDACTED } from "@mcp-platform/shared";
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
