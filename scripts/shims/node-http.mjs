// `import ... from "node:http"` in an ES module makes Node build the module's namespace, which
// reads its lazy `WebSocket`, `CloseEvent` and `MessageEvent` getters and so loads undici: about
// 50 ms and 13 MB at every start, for a WebSocket client nothing here uses. `require` builds no
// namespace; the bundle's ES imports of node:http get the module through it instead.
import { createRequire } from "node:module"

const http = createRequire(import.meta.url)("node:http")

export default http
export const {
  Agent,
  ClientRequest,
  IncomingMessage,
  METHODS,
  OutgoingMessage,
  STATUS_CODES,
  Server,
  ServerResponse,
  createServer,
  get,
  request,
  setMaxIdleHTTPParsers,
  validateHeaderName,
  validateHeaderValue
} = http
