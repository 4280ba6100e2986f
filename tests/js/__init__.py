"""The JavaScript side: its unit tests run under Node's own test runner."""
