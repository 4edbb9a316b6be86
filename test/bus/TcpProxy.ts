/**
 * A loopback TCP proxy that can be stopped and started again on the same port: to the client
 * behind it, that is a NATS server going down and coming back (the real one cannot be restarted
 * from a test).
 */
import { Effect } from "effect"
import * as net from "node:net"

export interface TcpProxy {
  readonly port: number
  /** Closes the listener and cuts every open connection. */
  readonly stop: Effect.Effect<void>
  /** Listens again on the same port. */
  readonly start: Effect.Effect<void>
}

const listen = (server: net.Server, port: number) =>
  Effect.async<number, Error>((resume) => {
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen(port, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
  })

/** A port nothing listens on (taken from the system, then released). */
export const closedPort = Effect.gen(function*() {
  const server = net.createServer()
  const port = yield* listen(server, 0)
  yield* Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
  })
  return port
}).pipe(Effect.orDie)

/** A proxy to `target` on `port` (0: any free port); `listening: false` leaves it stopped at first. */
export const tcpProxy = (target: { readonly host: string; readonly port: number }, port = 0, listening = true) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const sockets = new Set<net.Socket>()
      const track = (socket: net.Socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => socket.destroy())
      }
      let server: net.Server | undefined
      const start = Effect.suspend(() => {
        server = net.createServer((client) => {
          const upstream = net.connect(target.port, target.host)
          track(client)
          track(upstream)
          client.on("close", () => upstream.destroy())
          upstream.on("close", () => client.destroy())
          client.pipe(upstream)
          upstream.pipe(client)
        })
        return listen(server, actualPort)
      }).pipe(Effect.orDie, Effect.asVoid)
      const stop = Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        if (server === undefined) return resume(Effect.void)
        server.close(() => resume(Effect.void))
        server = undefined
      })
      const actualPort = port === 0 ? yield* closedPort : port
      if (listening) yield* start
      return { port: actualPort, start, stop } satisfies TcpProxy
    }),
    (proxy) => proxy.stop
  )
