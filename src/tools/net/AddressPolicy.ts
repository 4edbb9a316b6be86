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

/**
 * Cloud instance metadata and host-agent services (AWS instance metadata, ECS and EKS pod
 * credentials, DNS; GCP; Azure wire server; Oracle; Alibaba). 168.63.129.16 is public space,
 * so only this list keeps it out of reach.
 */
const metadataAddresses = new Set([
  "169.254.169.254",
  "169.254.170.2",
  "169.254.170.23",
  "169.254.169.253",
  "100.100.100.200",
  "192.0.0.192",
  "168.63.129.16",
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
  if (isMetadataEndpoint(address)) return refused(`${address} is a cloud metadata address`)
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

/**
 * Refused even when private networks are allowed: credentials of the host's cloud account live
 * there. An IPv6 address is also judged by every IPv4 address it may carry to a translator or
 * tunnel (see `embeddedIPv4`), so no encoding of a metadata address gets through.
 */
export const isMetadataEndpoint = (hostOrAddress: string): boolean => {
  const name = hostOrAddress.toLowerCase().replace(/\.+$/, "").replace(/^\[(.*)\]$/, "$1")
  if (metadataHostnames.has(name)) return true
  if (!ipaddr.isValid(name)) return false
  const parsed = ipaddr.parse(name)
  if (metadataAddresses.has(parsed.toString())) return true
  return parsed.kind() === "ipv6" && embeddedIPv4(parsed as ipaddr.IPv6).some((v4) => metadataAddresses.has(v4))
}

const inPrefix = (address: ipaddr.IPv6, prefix: string, bits: number) => address.match(ipaddr.IPv6.parse(prefix), bits)
const ipv4At = (bytes: ReadonlyArray<number>, ...at: ReadonlyArray<number>) => at.map((i) => bytes[i]).join(".")

/**
 * The IPv4 addresses an IPv6 address can lead to: IPv4-mapped (::ffff:0:0/96), SIIT
 * IPv4-translated (::ffff:0:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96, and the
 * local-use 64:ff9b:1::/48 at every RFC 6052 prefix length), 6to4 (2002::/16) and Teredo
 * (2001::/32: server and de-obfuscated client).
 */
export const embeddedIPv4 = (address: ipaddr.IPv6): ReadonlyArray<string> => {
  const b = address.toByteArray()
  const last = ipv4At(b, 12, 13, 14, 15)
  const out: Array<string> = []
  if (
    inPrefix(address, "::ffff:0:0", 96) || inPrefix(address, "::ffff:0:0:0", 96) || inPrefix(address, "::", 96) ||
    inPrefix(address, "64:ff9b::", 96)
  ) out.push(last)
  if (inPrefix(address, "64:ff9b:1::", 48)) {
    out.push(ipv4At(b, 6, 7, 9, 10), ipv4At(b, 7, 9, 10, 11), ipv4At(b, 9, 10, 11, 12), last)
  }
  if (inPrefix(address, "2002::", 16)) out.push(ipv4At(b, 2, 3, 4, 5))
  if (inPrefix(address, "2001::", 32)) {
    out.push(ipv4At(b, 4, 5, 6, 7), b.slice(12).map((x) => x ^ 0xff).join("."))
  }
  return out
}
