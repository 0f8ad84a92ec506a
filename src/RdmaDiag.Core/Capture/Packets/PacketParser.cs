using System.Buffers.Binary;

namespace RdmaDiag.Capture;

/// <summary>
/// Decodes a captured frame down to TCP, by hand, over spans. Never throws on bad bytes: a frame that is too
/// short or inconsistent comes back as <see cref="PacketKind.Malformed"/> with a reason.
/// </summary>
public static class PacketParser
{
    private const ushort EtherTypeIPv4 = 0x0800;
    private const ushort EtherTypeIPv6 = 0x86DD;
    private const byte ProtoTcp = 6;
    private const byte ProtoIcmp = 1;
    private const byte ProtoIcmpV6 = 58;

    public static ParsedPacket Parse(LinkType linkType, ReadOnlySpan<byte> frame)
    {
        var p = default(ParsedPacket);
        var (offset, version) = LinkLayer(linkType, frame);
        if (offset < 0)
        {
            p.Kind = offset == -2 ? PacketKind.Malformed : PacketKind.NotIp;
            p.Problem = offset == -2 ? "link-layer header cut short" : null;
            return p;
        }
        var ip = frame[offset..];
        if (version == 0)
        {
            version = ip.IsEmpty ? 0 : ip[0] >> 4;
        }
        if (version == 4)
        {
            ParseIPv4(ip, ref p);
        }
        else if (version == 6)
        {
            ParseIPv6(ip, ref p);
        }
        else
        {
            p.Kind = ip.IsEmpty ? PacketKind.Malformed : PacketKind.NotIp;
            p.Problem = ip.IsEmpty ? "no IP header after the link-layer header" : null;
        }
        return p;
    }

    /// <summary>Offset of the IP header and its version if the link layer says (0 = look at the nibble); -1 not IP, -2 cut short.</summary>
    private static (int Offset, int Version) LinkLayer(LinkType linkType, ReadOnlySpan<byte> f)
    {
        switch (linkType)
        {
            case LinkType.Ethernet:
            {
                // dst(6) src(6) type(2), with any number of 802.1Q / 802.1ad / QinQ tags (type 2 + TCI 2) before the real type.
                var at = 12;
                while (true)
                {
                    if (f.Length < at + 2)
                    {
                        return (-2, 0);
                    }
                    var type = BinaryPrimitives.ReadUInt16BigEndian(f[at..]);
                    if (type is 0x8100 or 0x88A8 or 0x9100)
                    {
                        at += 4;
                        continue;
                    }
                    return EtherType(type, at + 2);
                }
            }
            case LinkType.LinuxSll:
                // packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
                return f.Length < 16 ? (-2, 0) : EtherType(BinaryPrimitives.ReadUInt16BigEndian(f[14..]), 16);
            case LinkType.LinuxSll2:
                // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8)
                return f.Length < 20 ? (-2, 0) : EtherType(BinaryPrimitives.ReadUInt16BigEndian(f), 20);
            case LinkType.Null:
            case LinkType.Loop:
            {
                if (f.Length < 4)
                {
                    return (-2, 0);
                }
                // NULL: address family in the capturing host's byte order; LOOP: always big-endian.
                var family = linkType == LinkType.Loop ? BinaryPrimitives.ReadUInt32BigEndian(f) : BinaryPrimitives.ReadUInt32LittleEndian(f);
                if ((family & 0xFFFF0000) != 0)
                {
                    family = BinaryPrimitives.ReverseEndianness(family);
                }
                return family switch
                {
                    2 => (4, 4),
                    10 or 24 or 28 or 30 => (4, 6),
                    _ => (-1, 0),
                };
            }
            case LinkType.Raw:
                return (0, 0);
            case LinkType.Ipv4:
                return (0, 4);
            case LinkType.Ipv6:
                return (0, 6);
            default:
                return (-1, 0);
        }
    }

    private static (int, int) EtherType(ushort type, int offset) => type switch
    {
        EtherTypeIPv4 => (offset, 4),
        EtherTypeIPv6 => (offset, 6),
        _ => (-1, 0),
    };

    /// <code>
    /// +0 ver/IHL  +1 DSCP/ECN  +2 total length  +4 id  +6 flags(DF 0x4000, MF 0x2000)/fragment offset
    /// +8 TTL  +9 protocol  +10 checksum  +12 source  +16 destination  +20 options (IHL*4 - 20)
    /// </code>
    private static void ParseIPv4(ReadOnlySpan<byte> ip, ref ParsedPacket p)
    {
        p.IpVersion = 4;
        if (ip.Length < 20)
        {
            Malformed(ref p, "IPv4 header cut short");
            return;
        }
        var ihl = (ip[0] & 0x0F) * 4;
        if (ihl < 20 || ip.Length < ihl)
        {
            Malformed(ref p, ihl < 20 ? "IPv4 header length below 20" : "IPv4 options cut short");
            return;
        }
        int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (total == 0)
        {
            // Segmentation offload on the capturing host leaves the length 0: the frame is the packet.
            total = ip.Length;
        }
        if (total < ihl)
        {
            Malformed(ref p, "IPv4 total length smaller than its header");
            return;
        }
        var flags = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]);
        p.DontFragment = (flags & 0x4000) != 0;
        var fragmentOffset = flags & 0x1FFF;
        p.IsFragment = (flags & 0x2000) != 0 || fragmentOffset != 0;
        p.HopLimit = ip[8];
        p.Protocol = ip[9];
        p.Source = NetAddress.FromIPv4(ip[12..]);
        p.Destination = NetAddress.FromIPv4(ip[16..]);
        p.IpPayloadLength = total - ihl;
        if (fragmentOffset != 0)
        {
            p.Kind = PacketKind.Fragment;
            return;
        }
        // Ethernet pads short frames: the IP total length, not the frame, says where the packet ends.
        var captured = ip[ihl..Math.Min(ip.Length, total)];
        Transport(captured, ref p, icmpV6: false);
    }

    /// <code>
    /// +0 ver/class/flow  +4 payload length  +6 next header  +7 hop limit  +8 source(16)  +24 destination(16)
    /// then extension headers: hop-by-hop 0, routing 43, destination 60, mobility 135, HIP 139, shim6 140
    /// (length (n+1)*8), fragment 44 (8 octets), AH 51 (length (n+2)*4)
    /// </code>
    private static void ParseIPv6(ReadOnlySpan<byte> ip, ref ParsedPacket p)
    {
        p.IpVersion = 6;
        if (ip.Length < 40)
        {
            Malformed(ref p, "IPv6 header cut short");
            return;
        }
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
        if (payloadLength == 0)
        {
            payloadLength = ip.Length - 40;
        }
        p.HopLimit = ip[7];
        p.Source = NetAddress.FromIPv6(ip[8..]);
        p.Destination = NetAddress.FromIPv6(ip[24..]);
        var next = ip[6];
        var rest = ip[40..Math.Min(ip.Length, 40 + payloadLength)];
        var wire = payloadLength;
        if (!SkipExtensionHeaders(ref rest, ref wire, ref next, ref p))
        {
            return;
        }
        p.Protocol = next;
        p.IpPayloadLength = wire;
        if (p.Kind == PacketKind.Fragment)
        {
            return;
        }
        Transport(rest, ref p, icmpV6: true);
    }

    private static bool SkipExtensionHeaders(ref ReadOnlySpan<byte> rest, ref int wire, ref byte next, ref ParsedPacket p)
    {
        while (true)
        {
            int length;
            switch (next)
            {
                case 0 or 43 or 60 or 135 or 139 or 140:
                    if (rest.Length < 2)
                    {
                        Malformed(ref p, "IPv6 extension header cut short");
                        return false;
                    }
                    length = (rest[1] + 1) * 8;
                    break;
                case 44:
                    if (rest.Length < 8)
                    {
                        Malformed(ref p, "IPv6 fragment header cut short");
                        return false;
                    }
                    var offsetFlags = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
                    p.IsFragment = true;
                    if ((offsetFlags & 0xFFF8) != 0)
                    {
                        p.Kind = PacketKind.Fragment;
                    }
                    length = 8;
                    break;
                case 51:
                    if (rest.Length < 2)
                    {
                        Malformed(ref p, "IPv6 authentication header cut short");
                        return false;
                    }
                    length = (rest[1] + 2) * 4;
                    break;
                default:
                    return true;
            }
            if (rest.Length < length)
            {
                Malformed(ref p, "IPv6 extension header cut short");
                return false;
            }
            next = rest[0];
            rest = rest[length..];
            wire -= length;
        }
    }

    private static void Transport(ReadOnlySpan<byte> l4, ref ParsedPacket p, bool icmpV6)
    {
        if (p.Protocol == ProtoTcp)
        {
            if (!TryTcp(l4, out var tcp, out var problem))
            {
                Malformed(ref p, problem);
                return;
            }
            p.Kind = PacketKind.Tcp;
            p.Tcp = tcp;
            p.Payload = l4[tcp.HeaderLength..];
            p.PayloadLength = Math.Max(p.Payload.Length, p.IpPayloadLength - tcp.HeaderLength);
            return;
        }
        if ((p.Protocol == ProtoIcmp && !icmpV6) || (p.Protocol == ProtoIcmpV6 && icmpV6))
        {
            Icmp(l4, ref p, icmpV6);
            return;
        }
        p.Kind = PacketKind.OtherIp;
    }

    private static bool TryTcp(ReadOnlySpan<byte> t, out TcpHeader header, out string problem)
    {
        header = default;
        problem = "";
        if (t.Length < 20)
        {
            problem = "TCP header cut short";
            return false;
        }
        var headerLength = (t[12] >> 4) * 4;
        if (headerLength < 20)
        {
            problem = "TCP data offset below 5";
            return false;
        }
        if (t.Length < headerLength)
        {
            problem = "TCP options cut short";
            return false;
        }
        ushort mss = 0;
        sbyte windowScale = -1;
        bool sackPermitted = false, hasTimestamps = false;
        uint tsVal = 0, tsEcr = 0;
        var options = t[20..headerLength];
        while (!options.IsEmpty)
        {
            var kind = options[0];
            if (kind == 0)
            {
                break;
            }
            if (kind == 1)
            {
                options = options[1..];
                continue;
            }
            if (options.Length < 2 || options[1] < 2 || options[1] > options.Length)
            {
                break;
            }
            var opt = options[..options[1]];
            switch (kind)
            {
                case 2 when opt.Length == 4:
                    mss = BinaryPrimitives.ReadUInt16BigEndian(opt[2..]);
                    break;
                case 3 when opt.Length == 3:
                    windowScale = (sbyte)Math.Min(opt[2], (byte)14);
                    break;
                case 4 when opt.Length == 2:
                    sackPermitted = true;
                    break;
                case 8 when opt.Length == 10:
                    hasTimestamps = true;
                    tsVal = BinaryPrimitives.ReadUInt32BigEndian(opt[2..]);
                    tsEcr = BinaryPrimitives.ReadUInt32BigEndian(opt[6..]);
                    break;
            }
            options = options[opt.Length..];
        }
        header = new TcpHeader
        {
            SourcePort = BinaryPrimitives.ReadUInt16BigEndian(t),
            DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(t[2..]),
            Sequence = BinaryPrimitives.ReadUInt32BigEndian(t[4..]),
            Acknowledgment = BinaryPrimitives.ReadUInt32BigEndian(t[8..]),
            Flags = (TcpFlags)t[13],
            Window = BinaryPrimitives.ReadUInt16BigEndian(t[14..]),
            HeaderLength = headerLength,
            Mss = mss,
            WindowScale = windowScale,
            SackPermitted = sackPermitted,
            HasTimestamps = hasTimestamps,
            TimestampValue = tsVal,
            TimestampEcho = tsEcr,
        };
        return true;
    }

    /// <code>
    /// +0 type  +1 code  +2 checksum  +4 unused / MTU (v4 frag-needed: +6 u16; v6 packet-too-big: +4 u32)
    /// +8 the offending packet's IP header and at least the first 8 octets of its payload
    /// </code>
    private static void Icmp(ReadOnlySpan<byte> m, ref ParsedPacket p, bool v6)
    {
        if (m.Length < 8)
        {
            Malformed(ref p, "ICMP header cut short");
            return;
        }
        byte type = m[0], code = m[1];
        var kind = v6 ? IcmpV6Kind(type, code) : IcmpV4Kind(type, code);
        if (kind == IcmpErrorKind.None)
        {
            p.Kind = PacketKind.OtherIp;
            return;
        }
        var mtu = kind != IcmpErrorKind.FragmentationNeeded ? 0
            : v6 ? (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(m[4..]), int.MaxValue)
            : BinaryPrimitives.ReadUInt16BigEndian(m[6..]);
        var quoted = default(ParsedPacket);
        var q = m[8..];
        var haveQuote = false;
        if (q.Length >= 20 && (q[0] >> 4) == 4 && !v6)
        {
            var ihl = (q[0] & 0x0F) * 4;
            if (ihl >= 20 && q.Length >= ihl)
            {
                quoted.Protocol = q[9];
                quoted.Source = NetAddress.FromIPv4(q[12..]);
                quoted.Destination = NetAddress.FromIPv4(q[16..]);
                q = q[ihl..];
                haveQuote = true;
            }
        }
        else if (q.Length >= 40 && (q[0] >> 4) == 6 && v6)
        {
            quoted.Source = NetAddress.FromIPv6(q[8..]);
            quoted.Destination = NetAddress.FromIPv6(q[24..]);
            var next = q[6];
            var rest = q[40..];
            var wire = rest.Length;
            // A quote may stop inside an extension header: then the ports are simply unknown.
            haveQuote = SkipExtensionHeaders(ref rest, ref wire, ref next, ref quoted);
            quoted.Protocol = next;
            q = rest;
        }
        var hasPorts = haveQuote && quoted.Protocol == ProtoTcp && q.Length >= 4;
        var hasSeq = hasPorts && q.Length >= 8;
        p.Kind = PacketKind.IcmpError;
        p.Icmp = new IcmpError
        {
            Kind = kind,
            Type = type,
            Code = code,
            IsIcmpV6 = v6,
            Mtu = mtu,
            QuotedProtocol = haveQuote ? quoted.Protocol : (byte)0,
            QuotedSource = new NetEndpoint(quoted.Source, hasPorts ? BinaryPrimitives.ReadUInt16BigEndian(q) : (ushort)0),
            QuotedDestination = new NetEndpoint(quoted.Destination, hasPorts ? BinaryPrimitives.ReadUInt16BigEndian(q[2..]) : (ushort)0),
            QuotedSequence = hasSeq ? BinaryPrimitives.ReadUInt32BigEndian(q[4..]) : 0,
            HasQuotedPorts = hasPorts,
            HasQuotedSequence = hasSeq,
        };
    }

    private static IcmpErrorKind IcmpV4Kind(byte type, byte code) => type switch
    {
        3 when code == 4 => IcmpErrorKind.FragmentationNeeded,
        3 when code is 9 or 10 or 13 => IcmpErrorKind.AdminProhibited,
        3 => IcmpErrorKind.Unreachable,
        11 => IcmpErrorKind.TimeExceeded,
        12 => IcmpErrorKind.ParameterProblem,
        _ => IcmpErrorKind.None,
    };

    private static IcmpErrorKind IcmpV6Kind(byte type, byte code) => type switch
    {
        1 when code is 1 or 5 => IcmpErrorKind.AdminProhibited,
        1 => IcmpErrorKind.Unreachable,
        2 => IcmpErrorKind.FragmentationNeeded,
        3 => IcmpErrorKind.TimeExceeded,
        4 => IcmpErrorKind.ParameterProblem,
        _ => IcmpErrorKind.None,
    };

    private static void Malformed(ref ParsedPacket p, string problem)
    {
        p.Kind = PacketKind.Malformed;
        p.Problem = problem;
    }
}
