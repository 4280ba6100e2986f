import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { extensionMarker, hasExtension, parsePageConfig, readPageConfig } from "../src/page_config.js";

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
