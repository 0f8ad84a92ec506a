using System.Buffers.Binary;
using System.Net;

namespace RdmaDiag.Capture;

/// <summary>
/// An IPv4 or IPv6 address as one 128-bit value (IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d),
/// so flow keys compare and hash without allocating.
/// </summary>
public readonly record struct NetAddress(UInt128 Bits)
{
    private static readonly UInt128 V4Prefix = (UInt128)0xFFFF << 32;

    public bool IsIPv4 => (Bits >> 32) == 0xFFFF;

    public static NetAddress FromIPv4(ReadOnlySpan<byte> four) => new(V4Prefix | BinaryPrimitives.ReadUInt32BigEndian(four));

    public static NetAddress FromIPv6(ReadOnlySpan<byte> sixteen) => new(BinaryPrimitives.ReadUInt128BigEndian(sixteen));

    public static NetAddress From(IPAddress address)
    {
        Span<byte> b = stackalloc byte[16];
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(b, out _);
            return FromIPv4(b);
        }
        address.TryWriteBytes(b, out _);
        return FromIPv6(b);
    }

    public IPAddress ToIPAddress()
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, Bits);
        return IsIPv4 ? new IPAddress(b[12..]) : new IPAddress(b);
    }

    public override string ToString() => ToIPAddress().ToString();
}

/// <summary>An address and a TCP/UDP port.</summary>
public readonly record struct NetEndpoint(NetAddress Address, ushort Port)
{
    public override string ToString() => Address.IsIPv4 ? $"{Address}:{Port}" : $"[{Address}]:{Port}";
}
