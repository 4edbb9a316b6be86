#!/usr/bin/env -S node --max-semi-space-size=16
// Installed entry point: the compiled daemon (`npm ci` builds dist/ through `prepare`).
import "../dist/main.js"
