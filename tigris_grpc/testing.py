"""Test helpers: a local Tigris server for your own tests (pytest plugin)."""
