#!/usr/bin/env node
// Installed entry point: the compiled daemon (`npm ci` builds dist/ through `prepare`).
import "../dist/main.js"
