namespace RdmaDiag.Capture;

/// <summary>What a frame turned out to be.</summary>
public enum PacketKind : byte
{
    /// <summary>Not IPv4/IPv6 (ARP, LLDP, an unknown link-layer protocol).</summary>
    NotIp,
    /// <summary>IP, but too short or inconsistent to decode; <see cref="ParsedPacket.Problem"/> says why.</summary>
    Malformed,
    /// <summary>IP carrying something other than TCP or an ICMP error (UDP, ICMP echo, ...).</summary>
    OtherIp,
    /// <summary>A non-first IP fragment: no transport header to read.</summary>
    Fragment,
    Tcp,
    /// <summary>An ICMP or ICMPv6 error; <see cref="ParsedPacket.Icmp"/> holds the quoted packet's addresses and ports.</summary>
    IcmpError,
}

/// <summary>ICMP/ICMPv6 error kinds that matter for a TCP connection.</summary>
public enum IcmpErrorKind : byte
{
    None,
    /// <summary>ICMP type 3 (other than frag-needed/admin codes), ICMPv6 type 1 (other than admin).</summary>
    Unreachable,
    /// <summary>ICMP type 3 codes 9, 10, 13; ICMPv6 type 1 codes 1 and 5.</summary>
    AdminProhibited,
    /// <summary>ICMP type 3 code 4 (fragmentation needed), ICMPv6 type 2 (packet too big).</summary>
    FragmentationNeeded,
    /// <summary>ICMP type 11, ICMPv6 type 3.</summary>
    TimeExceeded,
    /// <summary>ICMP type 12, ICMPv6 type 4.</summary>
    ParameterProblem,
}

/// <summary>An ICMP error and what it quotes of the packet that caused it.</summary>
public readonly struct IcmpError
{
    public IcmpErrorKind Kind { get; init; }
    public byte Type { get; init; }
    public byte Code { get; init; }
    public bool IsIcmpV6 { get; init; }
    /// <summary>Next-hop MTU for frag-needed / packet-too-big, else 0.</summary>
    public int Mtu { get; init; }
    /// <summary>The quoted packet's IP protocol (6 for TCP).</summary>
    public byte QuotedProtocol { get; init; }
    public NetEndpoint QuotedSource { get; init; }
    public NetEndpoint QuotedDestination { get; init; }
    /// <summary>The quoted TCP sequence number, when the quote reaches it.</summary>
    public uint QuotedSequence { get; init; }
    public bool HasQuotedPorts { get; init; }
    public bool HasQuotedSequence { get; init; }
}

/// <summary>
/// A frame decoded down to TCP (or to an ICMP error's quoted headers). Spans point into the frame the parser
/// was given.
/// </summary>
public ref struct ParsedPacket
{
    public PacketKind Kind;
    /// <summary>Why a frame is <see cref="PacketKind.Malformed"/>; a constant string, so no allocation.</summary>
    public string? Problem;
    /// <summary>4 or 6; 0 when not IP.</summary>
    public byte IpVersion;
    public byte Protocol;
    public byte HopLimit;
    public NetAddress Source;
    public NetAddress Destination;
    /// <summary>More-fragments set or a non-zero fragment offset (IPv4 flags or an IPv6 Fragment header).</summary>
    public bool IsFragment;
    public bool DontFragment;
    /// <summary>Octets of IP payload on the wire according to the IP header (transport header included).</summary>
    public int IpPayloadLength;
    public TcpHeader Tcp;
    /// <summary>The TCP payload bytes that were captured.</summary>
    public ReadOnlySpan<byte> Payload;
    /// <summary>TCP payload length on the wire per the IP header; larger than <see cref="Payload"/> when snaplen cut the frame.</summary>
    public int PayloadLength;
    public IcmpError Icmp;

    public readonly bool IsPayloadCut => Payload.Length < PayloadLength;
    public readonly NetEndpoint TcpSource => new(Source, Tcp.SourcePort);
    public readonly NetEndpoint TcpDestination => new(Destination, Tcp.DestinationPort);
}
