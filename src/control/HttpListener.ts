/**
 * The control server's socket: Node's HTTP server. A module of its own so that the daemon loads
 * it (and the WebSocket and MIME tables @effect/platform-node brings along) only when `[http]` is
 * enabled.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { createServer } from "node:http"

export const listen = (host: string, port: number) => NodeHttpServer.layer(createServer, { host, port })
