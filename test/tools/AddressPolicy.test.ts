import { describe, expect, it } from "@effect/vitest"
import { checkHostname, isMetadataEndpoint, publicOnly } from "../../src/tools/net/AddressPolicy.ts"

describe("AddressPolicy.publicOnly", () => {
  it("allows public unicast addresses, including NAT64 of a public IPv4", () => {
    for (
      const address of [
        "8.8.8.8",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "64:ff9b::808:808"
      ]
    ) {
      expect(publicOnly(address), address).toEqual({ allowed: true })
    }
  })

  it("refuses every special-purpose range, IPv4 and IPv6", () => {
    const refused = [
      "127.0.0.1",
      "127.255.255.254",
      "10.0.0.1",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.0.1",
      "169.254.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "100.127.255.255",
      "0.0.0.0",
      "255.255.255.255",
      "224.0.0.1",
      "240.0.0.1",
      "192.0.2.1",
      "198.18.0.1",
      "::",
      "::1",
      "fe80::1",
      "fc00::1",
      "fd12:3456::1",
      "fd00:ec2::254",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "::ffff:169.254.169.254",
      "64:ff9b::7f00:1",
      "64:ff9b::a00:1",
      "::7f00:1",
      "2001:db8::1",
      "2002:7f00:1::1",
      "2001:0:4136:e378::1",
      "fec0::1"
    ]
    for (const address of refused) {
      const verdict = publicOnly(address)
      expect(verdict.allowed, address).toBe(false)
    }
  })

  it("says why", () => {
    expect(publicOnly("10.1.2.3")).toEqual({ allowed: false, reason: "10.1.2.3 is a private network address" })
    expect(publicOnly("::ffff:192.168.1.1")).toEqual({
      allowed: false,
      reason: "::ffff:192.168.1.1 embeds 192.168.1.1: 192.168.1.1 is a private network address"
    })
    expect(publicOnly("169.254.169.254")).toEqual({
      allowed: false,
      reason: "169.254.169.254 is a cloud metadata address"
    })
  })
})

describe("AddressPolicy names", () => {
  it("refuses localhost and metadata names before any lookup", () => {
    for (
      const name of [
        "localhost",
        "LocalHost.",
        "api.localhost",
        "metadata.google.internal",
        "metadata.google.internal."
      ]
    ) {
      expect(checkHostname(name).allowed, name).toBe(false)
    }
    expect(checkHostname("example.com")).toEqual({ allowed: true })
  })

  it("recognises metadata endpoints by name and address, including mapped forms", () => {
    for (const target of ["metadata.google.internal", "169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"]) {
      expect(isMetadataEndpoint(target), target).toBe(true)
    }
    expect(isMetadataEndpoint("169.254.169.250")).toBe(false)
  })

  it("recognises 169.254.169.254 in every IPv6 encoding, and the other metadata and host-agent addresses", () => {
    const encodings = [
      "::ffff:a9fe:a9fe", // IPv4-mapped
      "::a9fe:a9fe", // IPv4-compatible
      "::169.254.169.254",
      "::ffff:0:a9fe:a9fe", // SIIT IPv4-translated
      "64:ff9b::a9fe:a9fe", // NAT64 well-known prefix
      "64:ff9b::169.254.169.254",
      "64:ff9b:1::a9fe:a9fe", // NAT64 local-use prefix, /96
      "64:ff9b:1:a9fe:a9:fea9:fe00:0", // ... /64: bits 72-103
      "64:ff9b:1:a9:fe:a9fe::", // ... /56: bits 56-63 and 72-95
      "64:ff9b:1:a9fe:a9:fe00::", // ... /48: bits 48-63 and 72-87
      "2002:a9fe:a9fe::1", // 6to4
      "2001:0:a9fe:a9fe::1", // Teredo server
      "2001:0:4136:e378:8000:63bf:5601:5601", // Teredo client (obfuscated 169.254.169.254)
      "[::a9fe:a9fe]",
      "169.254.170.23",
      "192.0.0.192",
      "168.63.129.16",
      "::ffff:168.63.129.16",
      "64:ff9b::a83f:8110"
    ]
    for (const address of encodings) {
      expect(isMetadataEndpoint(address), address).toBe(true)
      expect(publicOnly(address.replace(/^\[(.*)\]$/, "$1")).allowed, address).toBe(false)
    }
    // Public neighbours stay reachable.
    for (const address of ["168.63.129.17", "64:ff9b::808:808", "2002:808:808::1", "2606:4700:4700::1111"]) {
      expect(isMetadataEndpoint(address), address).toBe(false)
    }
  })
})
