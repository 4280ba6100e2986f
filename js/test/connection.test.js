import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  apiUrl,
  backoffDelay,
  classifyResponse,
  extensionMarker,
  hasExtension,
  normalizeBaseUrl,
  observeUrl,
  parseCookies,
  parsePageConfig,
  perturbUrl,
  readCookie,
  readPageConfig,
  restHeaders,
  Status,
  xsrfToken,
} from "../src/connection.js";

const http = { protocol: "http:", host: "localhost:8888" };
const https = { protocol: "https:", host: "hub.example.org" };

describe("base URL and routes", () => {
  test("the base URL always starts and ends with a slash", () => {
    assert.equal(normalizeBaseUrl("/"), "/");
    assert.equal(normalizeBaseUrl(""), "/");
    assert.equal(normalizeBaseUrl(undefined), "/");
    assert.equal(normalizeBaseUrl("/user/ada"), "/user/ada/");
    assert.equal(normalizeBaseUrl("user/ada/"), "/user/ada/");
  });

  test("an already encoded base is kept as it is, segments are encoded", () => {
    assert.equal(apiUrl("/a%40b/", ["agents", "echo"]), "/a%40b/terrarium/api/agents/echo");
    assert.equal(apiUrl("/a%40b/", ["agents"]), "/a%40b/terrarium/api/agents");
    assert.equal(apiUrl("/", ["health"]), "/terrarium/api/health");
    assert.equal(apiUrl("/a%40b/", ["purgatory", "x y", "resolve", "t/1"]), "/a%40b/terrarium/api/purgatory/x%20y/resolve/t%2F1");
  });

  test("query strings skip null and encode values", () => {
    assert.equal(apiUrl("/", ["agents", "echo", "events"], { since: 5, limit: null }), "/terrarium/api/agents/echo/events?since=5");
    assert.equal(apiUrl("/", ["x"], { q: "a&b" }), "/terrarium/api/x?q=a%26b");
  });

  test("observe URLs are same-origin WebSockets under the base", () => {
    assert.equal(observeUrl("/a%40b/", "echo", null, http), "ws://localhost:8888/a%40b/terrarium/observe/echo");
    assert.equal(observeUrl("/a%40b/", "echo", 0, http), "ws://localhost:8888/a%40b/terrarium/observe/echo?since=0");
    assert.equal(observeUrl("/", "heart.beat", 42, https), "wss://hub.example.org/terrarium/observe/heart.beat?since=42");
  });

  test("a since that is not a whole number is left out", () => {
    assert.equal(observeUrl("/", "echo", 7, http, "ab12"), "ws://localhost:8888/terrarium/observe/echo?since=7&epoch=ab12");
    // An epoch says which numbering `since` is in: without a since it is not sent.
    assert.equal(observeUrl("/", "echo", null, http, "ab12"), "ws://localhost:8888/terrarium/observe/echo");
    assert.equal(observeUrl("/", "echo", -1, http), "ws://localhost:8888/terrarium/observe/echo");
    assert.equal(observeUrl("/", "echo", 1.5, http), "ws://localhost:8888/terrarium/observe/echo");
  });

  test("perturb URLs follow the page's scheme", () => {
    assert.equal(perturbUrl("/user/a%40b/", "echo", https), "wss://hub.example.org/user/a%40b/terrarium/perturb/echo");
    assert.equal(perturbUrl("/", "echo", http), "ws://localhost:8888/terrarium/perturb/echo");
  });

  test("an absolute base keeps its own host", () => {
    assert.equal(observeUrl("https://other.example/base", "echo", null, http), "wss://other.example/base/terrarium/observe/echo");
  });
});

describe("backoff", () => {
  test("grows exponentially and stays within [cap/2, cap]", () => {
    for (let attempt = 0; attempt < 12; attempt += 1) {
      const cap = Math.min(30000, 500 * 2 ** attempt);
      assert.equal(backoffDelay(attempt, { random: () => 0 }), cap / 2);
      assert.equal(backoffDelay(attempt, { random: () => 1 }), cap);
      for (let i = 0; i < 50; i += 1) {
        const delay = backoffDelay(attempt);
        assert.ok(delay >= cap / 2 && delay <= cap, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  test("is capped, also for absurd attempts", () => {
    assert.equal(backoffDelay(1000, { random: () => 1 }), 30000);
    assert.equal(backoffDelay(Number.POSITIVE_INFINITY, { random: () => 1 }), 30000);
    assert.equal(backoffDelay(Number.NaN, { random: () => 1 }), 500);
    assert.equal(backoffDelay(-3, { random: () => 1 }), 500);
  });

  test("jitter spreads reconnects", () => {
    const delays = new Set(Array.from({ length: 40 }, () => backoffDelay(4)));
    assert.ok(delays.size > 30, "random delays should differ");
  });

  test("the jitter fraction and bounds are configurable", () => {
    assert.equal(backoffDelay(2, { initial: 100, jitter: 0, random: () => 0.7 }), 400);
    assert.equal(backoffDelay(2, { initial: 100, jitter: 1, random: () => 0.25 }), 100);
    assert.equal(backoffDelay(10, { initial: 100, max: 1000, random: () => 1 }), 1000);
  });
});

describe("cookies and XSRF", () => {
  test("parses a document.cookie string", () => {
    const cookies = parseCookies("a=1; _xsrf=2|abc|def|123;  theme=dark%20blue");
    assert.equal(cookies.get("a"), "1");
    assert.equal(cookies.get("_xsrf"), "2|abc|def|123");
    assert.equal(cookies.get("theme"), "dark blue");
  });

  test("strips quotes and keeps the first of duplicates", () => {
    assert.equal(readCookie('_xsrf="2|q|r|s"; _xsrf=later', "_xsrf"), "2|q|r|s");
  });

  test("missing or malformed cookies give null", () => {
    assert.equal(readCookie("", "_xsrf"), null);
    assert.equal(readCookie(undefined, "_xsrf"), null);
    assert.equal(readCookie("garbage; =x; _xsrfx=1", "_xsrf"), null);
    assert.equal(readCookie("_xsrf=%E0%A4%A", "_xsrf"), "%E0%A4%A");
  });

  test("the X-XSRFToken header comes from the cookie, only when there is one", () => {
    assert.equal(xsrfToken({ cookie: "_xsrf=tok%7Cen" }), "tok|en");
    assert.deepEqual(restHeaders({ cookie: "_xsrf=t1" }), { Accept: "application/json", "X-XSRFToken": "t1" });
    assert.deepEqual(restHeaders({ cookie: "other=1" }), { Accept: "application/json" });
    const refusing = {
      get cookie() {
        throw new Error("sandboxed");
      },
    };
    assert.equal(xsrfToken(refusing), null);
  });
});

describe("page config", () => {
  const page = (json, id = "jupyter-config-data") => ({
    getElementById: (wanted) => (wanted === id ? { textContent: json } : null),
  });

  test("reads Jupyter's page config", () => {
    const config = readPageConfig(page('{"baseUrl": "/a%40b/", "terrarium": {"version": "0.1.0", "protocol": 1}}'));
    assert.equal(config.baseUrl, "/a%40b/");
    assert.ok(hasExtension(config));
    assert.deepEqual(extensionMarker(config), { version: "0.1.0", protocol: 1 });
  });

  test("reads the dashboard's own config element", () => {
    const config = readPageConfig(page('{"baseUrl": "/", "version": "0.1.0"}', "terrarium-config"));
    assert.equal(config.baseUrl, "/");
    assert.equal(hasExtension(config), false);
  });

  test("no marker, a broken marker, another protocol: no extension", () => {
    assert.equal(hasExtension(parsePageConfig('{"baseUrl": "/"}')), false);
    assert.equal(hasExtension(parsePageConfig('{"terrarium": true}')), false);
    assert.equal(hasExtension(parsePageConfig('{"terrarium": {"version": "1"}}')), false);
    assert.equal(hasExtension(parsePageConfig('{"terrarium": {"protocol": 2}}')), false);
    assert.equal(hasExtension(null), false);
  });

  test("outside Jupyter there is no page config", () => {
    assert.equal(readPageConfig(undefined), null);
    assert.equal(readPageConfig({ getElementById: () => null }), null);
    assert.equal(readPageConfig(page("not json")), null);
    assert.equal(readPageConfig(page("[1, 2]")), null);
    assert.equal(parsePageConfig(""), null);
  });
});

describe("HTTP answers", () => {
  test("are classified into stream states", () => {
    assert.equal(classifyResponse(404, { error: "unknown_agent" }), Status.UNKNOWN_AGENT);
    assert.equal(classifyResponse(404, null), Status.EXTENSION_MISSING);
    assert.equal(classifyResponse(403, { error: "forbidden" }), Status.ACCESS_DENIED);
    assert.equal(classifyResponse(200, {}), Status.LIVE);
    assert.equal(classifyResponse(502, null), Status.RECONNECTING);
  });
});
