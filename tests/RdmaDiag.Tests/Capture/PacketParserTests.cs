using System.Buffers.Binary;
using System.Net;
using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Capture;
using static RdmaDiag.Tests.Capture.Frames;

namespace RdmaDiag.Tests.Capture;

public class PacketParserTests
{
    private static readonly byte[] Payload = "MPA ID Req Frame"u8.ToArray();

    [Fact]
    public void Parse_EthernetDoubleVlanIPv4OptionsTcpOptions_DecodesEveryField()
    {
        var tcp = Tcp(40000, 7174, 0xFFFFFFF0, 0, TcpFlags.Syn, 29200, SynOptions(8960), Payload);
        var ip = IPv4(A, B, 6, tcp, options: [0x94, 4, 0, 0]);
        var frame = Ethernet(ip, 0x0800, 100, 200);

        var p = PacketParser.Parse(LinkType.Ethernet, frame);

        Assert.Equal(PacketKind.Tcp, p.Kind);
        Assert.Equal(4, p.IpVersion);
        Assert.Equal("10.0.0.1:40000", p.TcpSource.ToString());
        Assert.Equal("10.0.0.2:7174", p.TcpDestination.ToString());
        Assert.Equal(0xFFFFFFF0u, p.Tcp.Sequence);
        Assert.Equal(TcpFlags.Syn, p.Tcp.Flags);
        Assert.Equal(29200, p.Tcp.Window);
        Assert.Equal(8960, p.Tcp.Mss);
        Assert.Equal(7, p.Tcp.WindowScale);
        Assert.True(p.Tcp.SackPermitted);
        Assert.True(p.Tcp.HasTimestamps);
        Assert.Equal(1u, p.Tcp.TimestampValue);
        Assert.True(p.DontFragment);
        Assert.False(p.IsFragment);
        Assert.Equal(Payload, p.Payload.ToArray());
        Assert.Equal(16, p.PayloadLength);
    }

    [Fact]
    public void Parse_EthernetPadding_PayloadEndsAtIpTotalLength()
    {
        var ip = IPv4(A, B, 6, Tcp(1, 2, 3, 4, TcpFlags.Ack));
        var frame = Ethernet(ip).Concat(new byte[6]).ToArray();

        var p = PacketParser.Parse(LinkType.Ethernet, frame);

        Assert.Equal(PacketKind.Tcp, p.Kind);
        Assert.Equal(0, p.Payload.Length);
    }

    [Fact]
    public void Parse_IPv6WithHopByHopAndDestinationOptions_ReachesTcp()
    {
        var tcp = Tcp(5000, 6000, 7, 8, TcpFlags.Ack | TcpFlags.Psh, payload: Payload);
        byte[] hopByHop = [60, 0, 1, 4, 0, 0, 0, 0];
        byte[] destination = [6, 0, 1, 4, 0, 0, 0, 0];
        var ip = IPv6(IPAddress.Parse("fd00::1"), IPAddress.Parse("fd00::2"), 0, [.. hopByHop, .. destination, .. tcp]);

        var p = PacketParser.Parse(LinkType.Ethernet, Ethernet(ip, 0x86DD));

        Assert.Equal(PacketKind.Tcp, p.Kind);
        Assert.Equal(6, p.IpVersion);
        Assert.Equal("[fd00::1]:5000", p.TcpSource.ToString());
        Assert.Equal(Payload, p.Payload.ToArray());
    }

    [Fact]
    public void Parse_IPv6NonFirstFragment_IsFragmentWithoutTransport()
    {
        byte[] fragment = [6, 0, 0x05, 0x01, 0, 0, 0, 42];
        var ip = IPv6(IPAddress.Parse("fd00::1"), IPAddress.Parse("fd00::2"), 44, [.. fragment, 1, 2, 3, 4]);

        var p = PacketParser.Parse(LinkType.Raw, ip);

        Assert.Equal(PacketKind.Fragment, p.Kind);
        Assert.True(p.IsFragment);
    }

    [Fact]
    public void Parse_IPv4FirstFragment_NotedAndTcpDecoded()
    {
        var ip = IPv4(A, B, 6, Tcp(1, 2, 3, 4, TcpFlags.Ack, payload: Payload), flagsFragment: 0x2000);

        var p = PacketParser.Parse(LinkType.Raw, ip);

        Assert.Equal(PacketKind.Tcp, p.Kind);
        Assert.True(p.IsFragment);
    }

    [Theory]
    [InlineData(LinkType.LinuxSll)]
    [InlineData(LinkType.LinuxSll2)]
    [InlineData(LinkType.Null)]
    [InlineData(LinkType.Loop)]
    [InlineData(LinkType.Raw)]
    [InlineData(LinkType.Ipv4)]
    public void Parse_EachLinkType_ReachesTcp(LinkType linkType)
    {
        var ip = IPv4(A, B, 6, Tcp(1, 2, 3, 4, TcpFlags.Ack, payload: Payload));
        byte[] header;
        switch (linkType)
        {
            case LinkType.LinuxSll:
                header = new byte[16];
                BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), 0x0800);
                break;
            case LinkType.LinuxSll2:
                header = new byte[20];
                BinaryPrimitives.WriteUInt16BigEndian(header, 0x0800);
                break;
            case LinkType.Null:
                header = [2, 0, 0, 0];
                break;
            case LinkType.Loop:
                header = [0, 0, 0, 2];
                break;
            default:
                header = [];
                break;
        }

        var p = PacketParser.Parse(linkType, [.. header, .. ip]);

        Assert.Equal(PacketKind.Tcp, p.Kind);
        Assert.Equal(Payload, p.Payload.ToArray());
    }

    [Fact]
    public void Parse_NullLinkBigEndianIPv6Family_ReachesTcp()
    {
        var ip = IPv6(IPAddress.Parse("::1"), IPAddress.Parse("::1"), 6, Tcp(1, 2, 3, 4, TcpFlags.Ack));

        var p = PacketParser.Parse(LinkType.Null, [0, 0, 0, 30, .. ip]);

        Assert.Equal(PacketKind.Tcp, p.Kind);
        Assert.Equal(6, p.IpVersion);
    }

    [Fact]
    public void Parse_IcmpFragNeeded_QuotesTcpFlowAndMtu()
    {
        var original = IPv4(A, B, 6, Tcp(40000, 7174, 123456, 0, TcpFlags.Ack, payload: Payload));
        var icmp = new byte[8 + 28];
        icmp[0] = 3;
        icmp[1] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), 1400);
        original.AsSpan(0, 28).CopyTo(icmp.AsSpan(8));
        var router = IPAddress.Parse("10.0.0.254");

        var p = PacketParser.Parse(LinkType.Raw, IPv4(router, A, 1, icmp));

        Assert.Equal(PacketKind.IcmpError, p.Kind);
        Assert.Equal(IcmpErrorKind.FragmentationNeeded, p.Icmp.Kind);
        Assert.Equal(1400, p.Icmp.Mtu);
        Assert.Equal("10.0.0.1:40000", p.Icmp.QuotedSource.ToString());
        Assert.Equal("10.0.0.2:7174", p.Icmp.QuotedDestination.ToString());
        Assert.True(p.Icmp.HasQuotedSequence);
        Assert.Equal(123456u, p.Icmp.QuotedSequence);
    }

    [Fact]
    public void Parse_Icmpv6AdminProhibited_QuotesTcpPorts()
    {
        var a = IPAddress.Parse("fd00::1");
        var b = IPAddress.Parse("fd00::2");
        var original = IPv6(a, b, 6, Tcp(40000, 7174, 1, 0, TcpFlags.Syn));
        byte[] icmp = [1, 1, 0, 0, 0, 0, 0, 0, .. original];

        var p = PacketParser.Parse(LinkType.Raw, IPv6(b, a, 58, icmp));

        Assert.Equal(PacketKind.IcmpError, p.Kind);
        Assert.Equal(IcmpErrorKind.AdminProhibited, p.Icmp.Kind);
        Assert.Equal(40000, p.Icmp.QuotedSource.Port);
        Assert.Equal(7174, p.Icmp.QuotedDestination.Port);
    }

    [Fact]
    public void Parse_SnaplenCutPayload_ReportsWireLength()
    {
        var ip = IPv4(A, B, 6, Tcp(1, 2, 3, 4, TcpFlags.Ack, payload: new byte[1000]));

        var p = PacketParser.Parse(LinkType.Raw, ip.AsSpan(0, 100));

        Assert.Equal(PacketKind.Tcp, p.Kind);
        Assert.Equal(60, p.Payload.Length);
        Assert.Equal(1000, p.PayloadLength);
        Assert.True(p.IsPayloadCut);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(25)]
    [InlineData(30)]
    public void Parse_HeadersCutShort_MalformedWithReason(int length)
    {
        var ip = IPv4(A, B, 6, Tcp(1, 2, 3, 4, TcpFlags.Ack, options: SynOptions()));

        var p = PacketParser.Parse(LinkType.Raw, ip.AsSpan(0, length));

        Assert.Equal(PacketKind.Malformed, p.Kind);
        Assert.False(string.IsNullOrEmpty(p.Problem));
    }

    [Fact]
    public void Parse_ArpFrame_NotIp()
    {
        var p = PacketParser.Parse(LinkType.Ethernet, Ethernet(new byte[28], 0x0806));

        Assert.Equal(PacketKind.NotIp, p.Kind);
    }

    [Fact]
    public void Parse_RandomBytesOnEveryLinkType_NeverThrows()
    {
        LinkType[] types = [LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2, LinkType.Null, LinkType.Ipv6];
        Prop.ForAll<byte[], int>((bytes, pick) =>
        {
            var t = types[Math.Abs(pick % types.Length)];
            var withIp = bytes.Length > 0 ? bytes.Select((b, i) => i == 0 ? (byte)(0x45 | (b & 0x10)) : b).ToArray() : bytes;
            PacketParser.Parse(t, bytes);
            PacketParser.Parse(t, withIp);
            return true;
        }).QuickCheckThrowOnFailure();
    }
}
