/** What running the daemon as a process needs, without the test runner (the bench uses it too). */
import * as net from "node:net"

/**
 * Node flags the daemon runs with (bin/minibot.js, npm start, the Dockerfile): a small young
 * generation, so a burst of updates does not leave Node 24's default 64 MB semi-spaces resident.
 */
export const nodeFlags = ["--max-semi-space-size=16"]

/** A TCP port nothing listens on right now. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })
