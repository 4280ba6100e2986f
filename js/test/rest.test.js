import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { classifyResponse, parseCookies, readCookie, restHeaders, xsrfToken } from "../src/rest.js";
import { Status } from "../src/status.js";

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

describe("HTTP answers", () => {
  test("are classified into stream states", () => {
    assert.equal(classifyResponse(404, { error: "unknown_agent" }), Status.UNKNOWN_AGENT);
    assert.equal(classifyResponse(404, null), Status.EXTENSION_MISSING);
    assert.equal(classifyResponse(403, { error: "forbidden" }), Status.ACCESS_DENIED);
    assert.equal(classifyResponse(200, {}), Status.LIVE);
    assert.equal(classifyResponse(502, null), Status.RECONNECTING);
  });
});
