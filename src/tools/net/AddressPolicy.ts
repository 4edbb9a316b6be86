/**
 * Which addresses an outbound request from a tool may reach. Only global unicast addresses pass:
 * loopback, private, link-local, CGNAT, unique-local, unspecified, multicast, broadcast, reserved
 * and documentation ranges are refused, IPv4 embedded in IPv6 (mapped, NAT64) is judged as the
 * IPv4 it carries, and cloud metadata endpoints are refused by address and by name.
 */
import ipaddr from "ipaddr.js"

export type Verdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: string }

export type AddressPolicy = (address: string) => Verdict

const allowed: Verdict = { allowed: true }
const refused = (reason: string): Verdict => ({ allowed: false, reason })

/** Cloud instance metadata services (AWS, GCP, Azure, OpenStack, Oracle, Alibaba). */
const metadataAddresses = new Set([
  "169.254.169.254",
  "169.254.170.2",
  "169.254.169.253",
  "100.100.100.200",
  "fd00:ec2::254",
  "fd00:ec2::23"
])

const metadataHostnames = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "metadata.azure.internal",
  "instance-data",
  "instance-data.ec2.internal"
])

const rangeNames: Record<string, string> = {
  unspecified: "an unspecified address",
  broadcast: "a broadcast address",
  multicast: "a multicast address",
  linkLocal: "a link-local address",
  loopback: "a loopback address",
  carrierGradeNat: "a carrier-grade NAT address",
  private: "a private network address",
  uniqueLocal: "a unique-local (private) IPv6 address",
  reserved: "a reserved address"
}

const describeRange = (range: string) => rangeNames[range] ?? `a special-purpose address (${range})`

/** The strict policy: public unicast addresses only. */
export const publicOnly: AddressPolicy = (address) => {
  if (!ipaddr.isValid(address)) return refused(`"${address}" is not an IP address`)
  const parsed = ipaddr.parse(address)
  const canonical = parsed.toString()
  if (metadataAddresses.has(canonical)) return refused(`${address} is a cloud metadata address`)
  if (parsed.kind() === "ipv4") {
    const range = parsed.range()
    return range === "unicast" ? allowed : refused(`${address} is ${describeRange(range)}`)
  }
  const v6 = parsed as ipaddr.IPv6
  const range = v6.range()
  if (range === "ipv4Mapped") return checkEmbedded(address, v6.toIPv4Address().toString())
  if (range === "rfc6052") {
    // NAT64 (64:ff9b::/96 and the local-use /48): the last 32 bits are the IPv4 destination.
    const bytes = v6.toByteArray().slice(12)
    return checkEmbedded(address, bytes.join("."))
  }
  if (range !== "unicast") return refused(`${address} is ${describeRange(range)}`)
  // Only global unicast (2000::/3) is routable on the internet; the rest of the unassigned
  // space (including the deprecated IPv4-compatible ::a.b.c.d) is refused.
  if (!v6.match(ipaddr.IPv6.parse("2000::"), 3)) return refused(`${address} is not a global unicast address`)
  return allowed
}

const checkEmbedded = (address: string, ipv4: string): Verdict => {
  const inner = publicOnly(ipv4)
  return inner.allowed ? allowed : refused(`${address} embeds ${ipv4}: ${inner.reason}`)
}

/** Names refused before any DNS lookup: `localhost` and metadata service names. */
export const checkHostname = (hostname: string): Verdict => {
  const name = hostname.toLowerCase().replace(/\.+$/, "")
  if (name === "localhost" || name.endsWith(".localhost")) return refused(`${hostname} is the local machine`)
  if (metadataHostnames.has(name)) return refused(`${hostname} is a cloud metadata service`)
  return allowed
}

/** Refused even when private networks are allowed: credentials of the host's cloud account live there. */
export const isMetadataEndpoint = (hostOrAddress: string): boolean => {
  const name = hostOrAddress.toLowerCase().replace(/\.+$/, "")
  if (metadataHostnames.has(name)) return true
  return ipaddr.isValid(name) && metadataAddresses.has(ipaddr.process(name).toString())
}
