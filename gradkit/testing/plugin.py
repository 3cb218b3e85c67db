"""gradkit pytest plugin (filled in below)."""
