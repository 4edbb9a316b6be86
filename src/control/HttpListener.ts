/**
 * The control server's socket: Node's HTTP server. A module of its own so that the daemon loads
 * it (and the WebSocket and MIME tables @effect/platform-node brings along) only when `[http]` is
 * enabled.
 *
 * Closing the server also closes every connection still open. Node's `close` waits for open
 * responses to end, and the event stream's (`/api/events`) never do: its clients would hold up a
 * stop until the shutdown timeout. By the time the server is closed, the requests' handlers have
 * been interrupted, so nothing else is cut.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { createServer } from "node:http"

const serverClosingConnections = () => {
  const server = createServer()
  const close = server.close.bind(server)
  server.close = (callback) => {
    close(callback)
    server.closeAllConnections()
    return server
  }
  return server
}

export const listen = (host: string, port: number) => NodeHttpServer.layer(serverClosingConnections, { host, port })
