import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { apiUrl, normalizeBaseUrl, observeUrl, perturbUrl } from "../src/urls.js";

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
