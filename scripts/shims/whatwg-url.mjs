// node-fetch (under grammY) falls back to whatwg-url only where Node has no URL class; Node's own
// URL is always there, so the fallback (and its 300 kB Unicode table, parsed at every start) is
// left out of the bundle.
export default { URL: globalThis.URL }
