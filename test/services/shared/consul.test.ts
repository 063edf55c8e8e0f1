import {
  backoffDelay,
  buildRegistration,
  ConsulAgent,
  ConsulError,
  REGISTER_RETRY,
  RegistrationKeeper,
  resolveAdvertiseAddress,
  serviceInstanceId,
  urlHost,
} from "@mcp-platform/shared";
import type { InterfaceTable, RetryPolicy } from "@mcp-platform/shared";
import fc from "fast-check";
import { fakeOnly } from "../../helpers/fake-timers";
import { ConsulDouble } from "../../helpers/consul-double";
import { capturingLogger, fields } from "../../helpers/log-capture";

/** Quick retries so a test exercises the loop without waiting. */
const FAST: RetryPolicy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 };

const registration = buildRegistration({
  name: "mcp-files",
  address: "172.20.0.5",
  port: 11101,
  version: "0.1.0",
  tags: ["mcp"],
  hostname: "files-7d9f",
});

/** What a rejected promise was rejected with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("buildRegistration", () => {
  it("builds the agent payload with a stable ID and an HTTP check on /health/ready", () => {
    // GIVEN the registration above / THEN
    expect(registration).toStrictEqual({
      ID: "mcp-files-files-7d9f-11101",
      Name: "mcp-files",
      Address: "172.20.0.5",
      Port: 11101,
      Tags: ["mcp"],
      Meta: { version: "0.1.0" },
      Check: {
        HTTP: "http://172.20.0.5:11101/health/ready",
        Method: "GET",
        Interval: "10s",
        Timeout: "2s",
        DeregisterCriticalServiceAfter: "1m",
      },
    });
  });

  it("brackets an IPv6 address in the check URL", () => {
    // GIVEN / WHEN
    const v6 = buildRegistration({
      name: "router",
      address: "fd00::5",
      port: 3000,
      version: "1",
      hostname: "h",
    });

    // THEN
    expect([v6.ID, v6.Address, v6.Tags, v6.Check.HTTP]).toStrictEqual([
      serviceInstanceId("router", "h", 3000),
      "fd00::5",
      [],
      "http://[fd00::5]:3000/health/ready",
    ]);
  });
});

describe("backoffDelay", () => {
  it("starts at the base, doubles, and never exceeds the cap", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 30 }),
        (base, cap, attempt) => {
          const policy = { attempts: 40, baseDelayMs: base, maxDelayMs: cap };
          expect(backoffDelay(policy, attempt)).toStrictEqual(Math.min(cap, base * 2 ** (attempt - 1)));
          expect(backoffDelay(policy, attempt + 1)).toBeGreaterThanOrEqual(backoffDelay(policy, attempt));
        },
      ),
    );
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(REGISTER_RETRY, n))).toStrictEqual([
      500, 1000, 2000, 4000, 5000, 5000, 5000,
    ]);
  });
});

describe("ConsulAgent", () => {
  let consul: ConsulDouble;

  beforeEach(async () => {
    consul = await ConsulDouble.start();
  });

  afterEach(async () => {
    await consul.close();
  });

  it("PUTs the registration as JSON with the ACL token", async () => {
    // GIVEN an agent client with a token
    const { logger } = capturingLogger();
    const agent = new ConsulAgent({ address: consul.url, token: "acl-secret", logger });

    // WHEN it registers
    await agent.register(registration, { retry: FAST });

    // THEN the double received exactly that
    expect(
      consul.calls.map((call) => ({
        method: call.method,
        path: call.path,
        query: call.query,
        token: call.headers["x-consul-token"],
        type: call.headers["content-type"],
        body: call.body,
      })),
    ).toStrictEqual([
      {
        method: "PUT",
        path: "/v1/agent/service/register",
        query: "replace-existing-checks=true",
        token: "acl-secret",
        type: "application/json",
        body: registration,
      },
    ]);
  });

  it("retries 5xx answers with backoff and logs each failed attempt", async () => {
    // GIVEN a Consul that fails twice, then accepts
    let answered = 0;
    consul.respondWith(() => (++answered <= 2 ? { status: 500, body: "agent not ready" } : { status: 200 }));
    const { logger, lines } = capturingLogger();
    const agent = new ConsulAgent({ address: consul.url, logger });

    // WHEN it registers
    await agent.register(registration, { retry: FAST });

    // THEN three attempts were made, the two failures logged as warnings
    expect(consul.calls.length).toStrictEqual(3);
    expect(fields(lines, ["level", "msg", "attempt", "attempts", "err", "retryInMs"])).toStrictEqual([
      {
        level: "warn",
        msg: "consul register mcp-files-files-7d9f-11101 failed; retrying",
        attempt: 1,
        attempts: 3,
        err: "HTTP 500: agent not ready",
        retryInMs: 1,
      },
      {
        level: "warn",
        msg: "consul register mcp-files-files-7d9f-11101 failed; retrying",
        attempt: 2,
        attempts: 3,
        err: "HTTP 500: agent not ready",
        retryInMs: 1,
      },
    ]);
  });

  it("gives up after the last attempt with an error naming Consul and the cause", async () => {
    // GIVEN a Consul that always answers 503
    consul.respondWith(() => ({ status: 503, body: "No cluster leader" }));
    const { logger, lines } = capturingLogger();
    const agent = new ConsulAgent({ address: consul.url, logger });

    // WHEN it registers
    const error = await rejection(agent.register(registration, { retry: FAST }));

    // THEN
    expect(error).toBeInstanceOf(ConsulError);
    expect((error as ConsulError).message).toStrictEqual(
      `consul register mcp-files-files-7d9f-11101 at ${consul.url} failed after 3 attempt(s): HTTP 503: No cluster leader`,
    );
    expect(consul.calls.length).toStrictEqual(3);
    expect(fields(lines, ["level", "msg"]).at(-1)).toStrictEqual({
      level: "error",
      msg: "consul register mcp-files-files-7d9f-11101 failed",
    });
  });

  it("does not retry a 4xx answer", async () => {
    // GIVEN a Consul that denies the token
    consul.respondWith(() => ({ status: 403, body: "Permission denied" }));
    const { logger } = capturingLogger();
    const agent = new ConsulAgent({ address: consul.url, logger });

    // WHEN it registers
    const error = (await rejection(agent.register(registration, { retry: FAST }))) as ConsulError;

    // THEN one attempt, not retryable
    expect([error.retryable, error.message, consul.calls.length]).toStrictEqual([
      false,
      `consul register mcp-files-files-7d9f-11101 at ${consul.url} failed after 1 attempt(s): HTTP 403: Permission denied`,
      1,
    ]);
  });

  it("treats an unreachable Consul as retryable", async () => {
    // GIVEN nothing listening at the address any more
    const address = consul.url;
    await consul.close();
    consul = await ConsulDouble.start();
    const { logger } = capturingLogger();
    const agent = new ConsulAgent({ address, logger });

    // WHEN it registers
    const error = (await rejection(agent.register(registration, { retry: FAST }))) as ConsulError;

    // THEN it tried every attempt and says the connection was refused
    expect([error.name, error.retryable]).toStrictEqual(["ConsulError", true]);
    expect(error.message).toContain(`at ${address} failed after 3 attempt(s): `);
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("stops waiting between attempts when aborted", async () => {
    // GIVEN a failing Consul and a long backoff
    consul.respondWith(() => ({ status: 500 }));
    const { logger } = capturingLogger();
    const agent = new ConsulAgent({ address: consul.url, logger });
    const controller = new AbortController();
    const registering = rejection(
      agent.register(registration, {
        retry: { attempts: 5, baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
        signal: controller.signal,
      }),
    );

    // WHEN the first attempt has failed and the call is aborted
    await consul.waitForCall(() => true);
    controller.abort();

    // THEN the call rejects with an AbortError after that single attempt
    expect(((await registering) as Error).name).toStrictEqual("AbortError");
    expect(consul.calls.length).toStrictEqual(1);
  });

  it("deregisters by ID with the ID escaped into the path", async () => {
    // GIVEN an agent client
    const { logger } = capturingLogger();
    const agent = new ConsulAgent({ address: consul.url, logger });

    // WHEN it deregisters an ID holding a character that must be escaped
    await agent.deregister("mcp-files-host/1-11101");

    // THEN
    expect(consul.calls.map((call) => [call.method, call.path, call.body])).toStrictEqual([
      ["PUT", "/v1/agent/service/deregister/mcp-files-host%2F1-11101", undefined],
    ]);
  });
});

describe("ConsulAgent.isRegistered", () => {
  let consul: ConsulDouble;

  beforeEach(async () => {
    consul = await ConsulDouble.start();
  });

  afterEach(async () => {
    await consul.close();
  });

  it("GETs the instance by escaped ID and tells held (200) from unknown (404)", async () => {
    // GIVEN an agent that holds one ID only
    consul.respondWith((call) => ({ status: call.path.endsWith("/held-1") ? 200 : 404 }));
    const agent = new ConsulAgent({
      address: consul.url,
      token: "acl-secret",
      logger: capturingLogger().logger,
    });

    // WHEN both are asked about / THEN
    expect([await agent.isRegistered("held-1"), await agent.isRegistered("gone/2")]).toStrictEqual([
      true,
      false,
    ]);
    expect(
      consul.calls.map((call) => [call.method, call.path, call.headers["x-consul-token"]]),
    ).toStrictEqual([
      ["GET", "/v1/agent/service/held-1", "acl-secret"],
      ["GET", "/v1/agent/service/gone%2F2", "acl-secret"],
    ]);
  });

  it("throws on any other answer, keeping its status", async () => {
    consul.respondWith(() => ({ status: 500, body: "no leader" }));
    const agent = new ConsulAgent({ address: consul.url, logger: capturingLogger().logger });
    const error = (await rejection(agent.isRegistered("x"))) as ConsulError;
    expect([error.name, error.status, error.message]).toStrictEqual([
      "ConsulError",
      500,
      "HTTP 500: no leader",
    ]);
  });
});

describe("RegistrationKeeper", () => {
  let consul: ConsulDouble;
  let keeper: RegistrationKeeper | undefined;

  beforeEach(async () => {
    consul = await ConsulDouble.start();
  });

  afterEach(async () => {
    jest.useRealTimers();
    await keeper?.stop();
    await consul.close();
  });

  /** Starts a keeper checking every 10 ms; returns the agent it asks. */
  const start = (logger = capturingLogger().logger): ConsulAgent => {
    const agent = new ConsulAgent({ address: consul.url, logger });
    keeper = new RegistrationKeeper({ agent, registration, intervalMs: 10, logger });
    return agent;
  };
  const registrations = () => consul.calls.filter((call) => call.method === "PUT");

  it("registers again once the agent has lost the instance, and only then", async () => {
    // GIVEN an agent that has forgotten the instance (a restarted dev agent) until it is registered
    let held = false;
    consul.respondWith((call) => {
      if (call.method === "PUT") held = true;
      return { status: call.method === "GET" && !held ? 404 : 200 };
    });
    const { logger, lines } = capturingLogger();

    // WHEN the keeper runs for a few more rounds after the re-registration
    start(logger);
    const put = await consul.waitForCall((call) => call.method === "PUT");
    const after = consul.calls.length;
    await consul.waitForCall((call) => consul.calls.indexOf(call) >= after + 3);

    // THEN the same registration went out once, and the later rounds only asked
    expect([put.path, put.query, put.body]).toStrictEqual([
      "/v1/agent/service/register",
      "replace-existing-checks=true",
      registration,
    ]);
    expect(registrations()).toHaveLength(1);
    expect(fields(lines, ["level", "msg", "consulId"])).toStrictEqual([
      {
        level: "warn",
        msg: "consul no longer holds this instance; registering again",
        consulId: registration.ID,
      },
      { level: "info", msg: "registered in consul again", consulId: registration.ID },
    ]);
  });

  it("logs a round it cannot finish and tries again on the next one", async () => {
    // GIVEN a Consul without a leader
    consul.respondWith(() => ({ status: 500, body: "No cluster leader" }));
    const { logger, lines } = capturingLogger();

    // WHEN the keeper runs two rounds
    start(logger);
    await consul.waitForCall((call) => consul.calls.indexOf(call) >= 1);

    // THEN it asked twice, registered nothing, and said why
    expect(registrations()).toStrictEqual([]);
    expect(fields(lines.slice(0, 1), ["level", "msg", "err"])).toStrictEqual([
      {
        level: "warn",
        msg: "cannot check the consul registration; retrying later",
        err: "HTTP 500: No cluster leader",
      },
    ]);
  });

  it("stops asking once stopped", async () => {
    // GIVEN a keeper on a fake clock (only its interval is faked; its HTTP calls are real) that
    // starts a round, and asks Consul, when one interval passes
    fakeOnly("interval");
    const rounds = jest.spyOn(start(), "isRegistered");
    jest.advanceTimersByTime(10);
    await consul.waitForCall(() => true);
    const whileRunning = rounds.mock.calls.length;

    // WHEN it stops, and ten of its intervals pass
    await keeper?.stop();
    jest.advanceTimersByTime(10 * 10);

    // THEN one interval started one round while it ran; none started after, and Consul heard no more
    expect([whileRunning, rounds.mock.calls.length, consul.calls.length]).toStrictEqual([1, 1, 1]);
  });
});

/** An interface table like a container's: loopback, then eth0 with IPv6 listed before IPv4. */
const CONTAINER: InterfaceTable = {
  lo: [
    {
      address: "127.0.0.1",
      netmask: "255.0.0.0",
      family: "IPv4",
      mac: "00:00:00:00:00:00",
      internal: true,
      cidr: "127.0.0.1/8",
    },
  ],
  eth0: [
    {
      address: "fe80::1",
      netmask: "ffff:ffff:ffff:ffff::",
      family: "IPv6",
      mac: "02:42:ac:14:00:05",
      internal: false,
      cidr: "fe80::1/64",
      scopeid: 2,
    },
    {
      address: "172.20.0.5",
      netmask: "255.255.255.0",
      family: "IPv4",
      mac: "02:42:ac:14:00:05",
      internal: false,
      cidr: "172.20.0.5/24",
    },
  ],
};

describe("resolveAdvertiseAddress", () => {
  it("prefers SERVICE_ADDRESS", () => {
    // GIVEN / WHEN
    const address = resolveAdvertiseAddress({
      serviceAddress: "mcp-files",
      host: "0.0.0.0",
      interfaces: CONTAINER,
    });
    // THEN
    expect(address).toStrictEqual("mcp-files");
  });

  it("uses HOST when it names one address", () => {
    // GIVEN / WHEN
    const address = resolveAdvertiseAddress({ host: "127.0.0.1", interfaces: CONTAINER });
    // THEN
    expect(address).toStrictEqual("127.0.0.1");
  });

  it.each(["0.0.0.0", "::"])("picks the first non-internal IPv4 when HOST is %s", (host) => {
    // GIVEN / WHEN
    const address = resolveAdvertiseAddress({ host, interfaces: CONTAINER });
    // THEN
    expect(address).toStrictEqual("172.20.0.5");
  });

  it("fails with advice when only loopback exists", () => {
    // GIVEN a machine with loopback only
    const loopbackOnly: InterfaceTable = { lo: CONTAINER.lo };

    // WHEN / THEN
    expect(() => resolveAdvertiseAddress({ host: "0.0.0.0", interfaces: loopbackOnly })).toThrow(
      "cannot choose an address to advertise in Consul: HOST=0.0.0.0 listens on every interface and no " +
        "non-internal IPv4 interface exists; set SERVICE_ADDRESS",
    );
  });
});

describe("urlHost", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1"],
    ["consul", "consul"],
    ["::1", "[::1]"],
    ["[::1]", "[::1]"],
  ])("writes %s as %s in a URL", (host, expected) => {
    expect(urlHost(host)).toStrictEqual(expected);
  });
});
