using System.Net;
using System.Net.Sockets;
using RdmaDiag.Capture;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Diagnostics.Check.Route;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.CheckVerb;

/// <summary>The verdict rules from synthetic observations: no network, no root.</summary>
public class VerdictRulesTests
{
    private static readonly IPAddress Server = IPAddress.Parse("198.51.100.2");
    private static readonly IPAddress Gateway = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress Local = IPAddress.Parse("192.0.2.2");
    private const int ClientPort = 40000;
    private const long Syn = 1_000_000_000;

    private static CheckObservations Observe(bool capture = true, IwarpSetupOptions? setup = null) => new()
    {
        Target = new IPEndPoint(Server, 7174),
        Setup = setup ?? IwarpSetupOptions.Default,
        LocalAddresses = [Local, IPAddress.Loopback],
        Route = new RouteInfo(Server, "unicast", 254, "eth0", 2, 1500, Gateway, Local, null),
        Capture = capture ? new CaptureEvidence { Interface = "any" } : null,
        CaptureUnavailable = capture ? null : "no privilege",
    };

    private static CaptureEvidence Captured(FlowEvidence? flow = null, params IcmpEvidence[] icmp) =>
        new() { Interface = "any", Flows = flow is null ? [] : [flow], Icmp = icmp };

    private static IwarpException Tcp(IwarpErrorKind kind, SocketError? error = null, TimeSpan? waited = null) =>
        new(kind, ConnectionPhase.TcpConnect, $"TCP connect: {kind}") { SocketError = error, Waited = waited };

    private static IwarpException Mpa(IwarpErrorKind kind, string message = "mpa failure") =>
        new(kind, ConnectionPhase.MpaHandshake, message) { DetectedBy = ErrorSource.Peer };

    private static NegotiatedParameters Negotiated(int ord = 16, ushort? peerIrd = 16) => new()
    {
        Role = ConnectionRole.Initiator,
        RequestRevision = 2,
        ReplyRevision = 2,
        Enhanced = true,
        Crc = false,
        MarkersSent = false,
        MarkersReceived = false,
        PeerToPeer = false,
        Rtr = RtrType.None,
        Ird = 16,
        Ord = ord,
        PeerIrd = peerIrd,
        PeerOrd = 16,
        Request = MpaStartFrame.Request(false, new MpaV2Block(16, 16), default),
        Reply = MpaStartFrame.Reply(false, new MpaV2Block(peerIrd ?? 16, 16), default),
        Emss = 1448,
        Mulpdu = 1442,
    };

    private static CheckObservations Connected(Action<CheckObservations>? more = null)
    {
        var o = Observe();
        o.Parameters = Negotiated();
        o.ClientPort = ClientPort;
        o.Operations.Add(new ProbeResult("send", 64, true, TimeSpan.FromMilliseconds(1), ""));
        o.Operations.Add(new ProbeResult("write", 64, true, TimeSpan.FromMilliseconds(1), ""));
        o.Operations.Add(new ProbeResult("read", 64, true, TimeSpan.FromMilliseconds(1), ""));
        more?.Invoke(o);
        return o;
    }

    private static OperationFailure Failed(IwarpException? error, string op = "send", int size = 4096, string detail = "") =>
        new(op, size, StageNames.LargeMessages, error, detail.Length > 0 ? detail : error?.Message ?? "");

    private static IwarpException Stalled() =>
        new(IwarpErrorKind.Stall, ConnectionPhase.FullOperation, "no progress within 4 s") { Waited = TimeSpan.FromSeconds(4) };

    private static CheckVerdict Expect(CheckObservations o, CheckCause cause)
    {
        CheckVerdict v = VerdictRules.Decide(o);
        Assert.True(v.Cause == cause, $"expected {cause.Id}, got {v.Cause.Id}: {v.Sentence}");
        return v;
    }

    private static CheckVerdict Expect(CheckObservations o, CheckCause cause, FirewallSide? side)
    {
        CheckVerdict v = Expect(o, cause);
        Assert.Equal(side, v.Side);
        return v;
    }

    [Fact]
    public void Decide_RouteLookupFailed_NoRouteOnThisHost()
    {
        var o = Observe();
        o.Route = null;
        o.RouteFailure = new RouteFailure(Server, 101, "no route to this network");

        CheckVerdict v = Expect(o, CheckCauses.NoRoute, FirewallSide.Local);

        Assert.Contains("errno 101", v.Sentence);
        Assert.Contains("ip route add 198.51.100.2", v.Fix);
    }

    [Fact]
    public void Decide_BlackholeRoute_FixNamesTheRouteType()
    {
        var o = Observe();
        o.RouteFailure = new RouteFailure(Server, 22, "a blackhole route covers this address");

        Assert.Contains("type blackhole", VerdictRules.Decide(o).Fix);
    }

    [Fact]
    public void Decide_RefusedWithResetInCapture_TcpRefusedFromTheServer()
    {
        var o = Observe();
        o.SetupError = Tcp(IwarpErrorKind.TcpRefused, SocketError.ConnectionRefused);
        o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, SynCount = 1, FirstSynNanos = Syn, RstNanos = Syn + 200_000, RstFromServer = true, RstTtl = 63 });

        CheckVerdict v = Expect(o, CheckCauses.TcpRefused, FirewallSide.Server);

        Assert.Contains("with a reset 0.2 ms later", v.Sentence);
    }

    [Fact]
    public void Decide_ResetWithInitialTtlBehindAGateway_ComesFromTheRouter()
    {
        var o = Observe();
        o.SetupError = Tcp(IwarpErrorKind.TcpRefused, SocketError.ConnectionRefused);
        o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, SynCount = 1, FirstSynNanos = Syn, RstNanos = Syn, RstFromServer = true, RstTtl = 64 });

        CheckVerdict v = VerdictRules.Decide(o);

        Assert.Equal(FirewallSide.Path, v.Side);
        Assert.Contains("zero hops away", v.Sentence);
        Assert.Contains("on the router", v.Fix);
    }

    [Fact]
    public void Decide_RefusedWithoutCapture_SaysWhatACaptureWouldTell()
    {
        var o = Observe(capture: false);
        o.SetupError = Tcp(IwarpErrorKind.TcpRefused, SocketError.ConnectionRefused);

        CheckVerdict v = Expect(o, CheckCauses.TcpRefused, FirewallSide.Unknown);

        Assert.Contains("no privilege", v.Sentence);
    }

    [Fact]
    public void Decide_ResetButSynNeverLeft_LocalReject()
    {
        var o = Observe();
        o.SetupError = Tcp(IwarpErrorKind.TcpRefused, SocketError.ConnectionRefused);
        o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, SynCount = 0, RstNanos = Syn, RstFromServer = true });

        CheckVerdict v = VerdictRules.Decide(o);

        Assert.Equal(FirewallSide.Local, v.Side);
        Assert.Contains("never left this host", v.Sentence);
    }

    [Theory]
    [InlineData("198.51.100.2", 3, 3, IcmpErrorKind.Unreachable, FirewallSide.Server, "port unreachable")]
    [InlineData("198.51.100.2", 3, 13, IcmpErrorKind.AdminProhibited, FirewallSide.Server, "communication administratively prohibited")]
    [InlineData("192.0.2.1", 3, 1, IcmpErrorKind.Unreachable, FirewallSide.Path, "router 192.0.2.1")]
    [InlineData("192.0.2.2", 3, 13, IcmpErrorKind.AdminProhibited, FirewallSide.Local, "host (192.0.2.2, a local address)")]
    public void Decide_IcmpErrorInCapture_NamesTypeCodeAndSide(string sender, byte type, byte code, IcmpErrorKind kind, FirewallSide side, string text)
    {
        var o = Observe();
        o.SetupError = Tcp(kind == IcmpErrorKind.Unreachable && code == 3 ? IwarpErrorKind.TcpRefused : IwarpErrorKind.TcpUnreachable);
        o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, SynCount = 1, FirstSynNanos = Syn },
            new IcmpEvidence(IPAddress.Parse(sender), false, type, code, kind, 0, ClientPort, Syn + 1_000_000));

        CheckVerdict v = Expect(o, CheckCauses.IcmpUnreachable, side);

        Assert.Contains(text, v.Sentence);
        Assert.Contains($"ICMP type {type} code {code}", v.Sentence);
        Assert.Contains("1 ms after the SYN", v.Sentence);
    }

    [Fact]
    public void Decide_TimeoutWithSynAckSeen_FilteredOnThisHost()
    {
        var o = Observe();
        o.SetupError = Tcp(IwarpErrorKind.TcpTimeout, SocketError.TimedOut, TimeSpan.FromSeconds(5));
        o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, SynCount = 3, FirstSynNanos = Syn, SynAckNanos = Syn + 100_000 });

        CheckVerdict v = Expect(o, CheckCauses.TcpFiltered, FirewallSide.Local);

        Assert.Contains("input chain", v.Sentence);
    }

    [Fact]
    public void Decide_TimeoutWithSynsUnanswered_FilteredRemotely()
    {
        var o = Observe();
        o.SetupError = Tcp(IwarpErrorKind.TcpTimeout, SocketError.TimedOut, TimeSpan.FromSeconds(5));
        o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, SynCount = 3, FirstSynNanos = Syn });

        CheckVerdict v = VerdictRules.Decide(o);

        Assert.Equal(FirewallSide.Remote, v.Side);
        Assert.Contains("3 SYNs to 198.51.100.2:7174 left this host over 5 s", v.Sentence);
    }

    [Fact]
    public void Decide_TimeoutWithoutCapture_SideUnknown()
    {
        var o = Observe(capture: false);
        o.SetupError = Tcp(IwarpErrorKind.TcpTimeout, SocketError.TimedOut, TimeSpan.FromSeconds(5));

        CheckVerdict v = Expect(o, CheckCauses.TcpFiltered, FirewallSide.Unknown);
    }

    [Fact]
    public void Decide_ConnectDeniedAtOnce_LocalOutputChain()
    {
        var o = Observe();
        o.SetupError = Tcp(IwarpErrorKind.TcpError, SocketError.AccessDenied);

        CheckVerdict v = Expect(o, CheckCauses.TcpFiltered, FirewallSide.Local);

        Assert.Contains("output chain", v.Sentence);
    }

    [Fact]
    public void Decide_HostUnreachableAndNextHopArpIncomplete_NoRoute()
    {
        var o = Observe();
        o.SetupError = Tcp(IwarpErrorKind.TcpUnreachable, SocketError.HostUnreachable);
        o.NextHopState = "incomplete";

        CheckVerdict v = Expect(o, CheckCauses.NoRoute);

        Assert.Contains("next hop 192.0.2.1 on eth0 does not answer ARP", v.Sentence);
    }

    [Theory]
    [InlineData("SSH-2.0-OpenSSH_9.2\r\n", "an SSH banner")]
    [InlineData("HTTP/1.1 400 Bad Request\r\n", "an HTTP response")]
    [InlineData("\u0016\u0003\u0001\u0000", "TLS")]
    public void Decide_NonMpaBytes_NotIwarpNamesTheProtocol(string bytes, string protocol)
    {
        byte[] first = System.Text.Encoding.Latin1.GetBytes(bytes);
        var o = Observe();
        o.SetupError = new IwarpException(IwarpErrorKind.NotMpa, ConnectionPhase.MpaHandshake, "not MPA") { BytesReceived = first.Length, FirstBytes = first };

        CheckVerdict v = Expect(o, CheckCauses.NotIwarp);

        Assert.Contains(protocol, v.Sentence);
    }

    [Fact]
    public void Decide_NoReplyWithinTimeout_NotIwarp()
    {
        var o = Observe();
        o.SetupError = new IwarpException(IwarpErrorKind.HandshakeTimeout, ConnectionPhase.MpaHandshake, "no Reply") { Waited = TimeSpan.FromSeconds(5) };

        CheckVerdict v = Expect(o, CheckCauses.NotIwarp);

        Assert.Contains("sent nothing in the 5 s after the MPA Request", v.Sentence);
    }

    [Fact]
    public void Decide_HalfAnMpaReplyThenSilence_MpaInvalid()
    {
        var o = Observe();
        o.SetupError = new IwarpException(IwarpErrorKind.HandshakeTimeout, ConnectionPhase.MpaHandshake, "no complete Reply")
        {
            Waited = TimeSpan.FromSeconds(5),
            BytesReceived = 10,
            FirstBytes = "MPA ID Rep"u8.ToArray(),
        };

        Assert.Equal(CheckCauses.MpaInvalid, VerdictRules.Decide(o).Cause);
    }

    [Theory]
    [InlineData(true, "mpa-revision")]
    [InlineData(false, "not-iwarp")]
    public void Decide_ClosedOnRev2Request_Rev1RetryDecides(bool rev1Answered, string cause)
    {
        var o = Observe();
        o.SetupError = Mpa(IwarpErrorKind.ConnectionClosed, "closed before the Reply");
        o.RevisionOneAnswered = rev1Answered;
        o.RevisionRetryDetail = rev1Answered ? "accepted" : "ConnectionClosed";

        CheckVerdict v = VerdictRules.Decide(o);

        Assert.Equal(cause, v.Cause.Id);
    }

    [Fact]
    public void Decide_RejectWithPrivateData_ShowsItAsHexAndText()
    {
        var o = Observe();
        o.SetupError = new IwarpException(IwarpErrorKind.MpaRejected, ConnectionPhase.MpaHandshake, "R=1")
        {
            PeerFrame = MpaStartFrame.Reply(false, new MpaV2Block(16, 16), "busy"u8.ToArray(), rejected: true),
            PeerPrivateData = "busy"u8.ToArray(),
        };

        CheckVerdict v = Expect(o, CheckCauses.MpaRejected);

        Assert.Contains("62 75 73 79 |busy|", v.Sentence);
    }

    [Fact]
    public void Decide_RejectWhoseBlockOffersTooFewReads_MpaIrdOrd()
    {
        var o = Observe();
        o.SetupError = new IwarpException(IwarpErrorKind.MpaRejected, ConnectionPhase.MpaHandshake, "R=1")
        {
            PeerFrame = MpaStartFrame.Reply(false, new MpaV2Block(2, 16), default, rejected: true),
        };

        CheckVerdict v = Expect(o, CheckCauses.MpaIrdOrd);

        Assert.Contains("offers IRD 2, below this side's ORD 16", v.Sentence);
        Assert.Contains("check --ord 2", v.Fix);
    }

    [Theory]
    [InlineData(IwarpErrorKind.RevisionIncompatible, "mpa-revision")]
    [InlineData(IwarpErrorKind.MarkersNotSupported, "mpa-markers")]
    [InlineData(IwarpErrorKind.CrcPolicyConflict, "mpa-crc")]
    [InlineData(IwarpErrorKind.NoMatchingRtr, "mpa-rtr")]
    [InlineData(IwarpErrorKind.InsufficientIrd, "mpa-ird-ord")]
    [InlineData(IwarpErrorKind.MalformedStartFrame, "mpa-invalid")]
    public void Decide_MpaSetupErrorKinds_MapToTheirCause(IwarpErrorKind kind, string cause)
    {
        var o = Observe();
        o.SetupError = Mpa(kind);

        Assert.Equal(cause, VerdictRules.Decide(o).Cause.Id);
    }

    [Fact]
    public void Decide_StallAndFullSegmentsFailOnASecondConnection_PmtuBlackhole()
    {
        var o = Connected(o =>
        {
            o.Failure = Failed(Stalled());
            o.PathProbe = new PathProbe(PathProbeResult.FullSegmentFailed, 1360, 1448, "a 1360-octet Send did not complete");
            o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, ClientRetransmissions = 7, LargestClientRetransmission = 1448 });
        });

        CheckVerdict v = Expect(o, CheckCauses.PmtuBlackhole, FirewallSide.Path);

        Assert.Contains("a 1360-octet message (one 1448-octet TCP segment, a 1500-byte packet)", v.Sentence);
        Assert.Contains("7 retransmission(s) of segments up to 1448 octets", v.Sentence);
    }

    [Fact]
    public void Decide_PmtuWithFragNeededReachingThisHost_BlamesTheLocalFirewall()
    {
        var o = Connected(o =>
        {
            o.Failure = Failed(Stalled());
            o.PathProbe = new PathProbe(PathProbeResult.FullSegmentFailed, 1360, 1448, "stalled");
            o.Capture = Captured(null, new IcmpEvidence(Gateway, false, 3, 4, IcmpErrorKind.FragmentationNeeded, 1280, ClientPort, Syn));
        });

        CheckVerdict v = Expect(o, CheckCauses.PmtuBlackhole, FirewallSide.Local);

        Assert.Contains("mtu 1280", v.Fix);
    }

    [Theory]
    [InlineData(PathProbeResult.Passed, "something dropped this one flow")]
    [InlineData(PathProbeResult.ConnectFailed, "a new connection fails too")]
    [InlineData(PathProbeResult.SmallFailed, "its small messages do not return either")]
    public void Decide_StallWhereTheSecondConnectionIsNotAPmtuCase_Stall(PathProbeResult result, string text)
    {
        var o = Connected(o =>
        {
            o.Failure = Failed(Stalled(), size: 1 << 20);
            o.PathProbe = new PathProbe(result, 1360, 1448, "detail");
        });

        CheckVerdict v = Expect(o, CheckCauses.Stall);

        Assert.Contains(text, v.Sentence);
    }

    [Fact]
    public void Decide_SmallMessagesNeverWorked_StallEvenIfFullSegmentsFailLater()
    {
        var o = Observe();
        o.Parameters = Negotiated();
        o.Failure = new OperationFailure("hello", 0, StageNames.RdmaOps, Stalled(), "stalled");
        o.PathProbe = new PathProbe(PathProbeResult.FullSegmentFailed, 1360, 1448, "detail");

        Assert.Equal(CheckCauses.Stall, VerdictRules.Decide(o).Cause);
    }

    [Fact]
    public void Decide_ResetMidStreamWithDifferentTtl_ResetFromThePath()
    {
        var o = Connected(o =>
        {
            o.Failure = Failed(new IwarpException(IwarpErrorKind.ConnectionReset, ConnectionPhase.FullOperation, "reset"));
            o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, RstNanos = Syn, RstFromServer = true, RstTtl = 64, ServerTtl = 62 });
        });

        CheckVerdict v = Expect(o, CheckCauses.Reset, FirewallSide.Path);

        Assert.Contains("a device 2 hop(s) nearer than the server", v.Sentence);
    }

    [Fact]
    public void Decide_ResetMidStreamWithTheServersTtl_ResetFromTheServer()
    {
        var o = Connected(o =>
        {
            o.Failure = Failed(new IwarpException(IwarpErrorKind.ConnectionReset, ConnectionPhase.FullOperation, "reset"));
            o.Capture = Captured(new FlowEvidence { ClientPort = ClientPort, RstNanos = Syn, RstFromServer = true, RstTtl = 63, ServerTtl = 63 });
        });

        Assert.Equal(FirewallSide.Server, VerdictRules.Decide(o).Side);
    }

    [Theory]
    [InlineData(IwarpErrorKind.ConnectionClosed, "peer-closed")]
    [InlineData(IwarpErrorKind.ClosedMidMessage, "peer-closed")]
    [InlineData(IwarpErrorKind.CrcError, "corrupt")]
    [InlineData(IwarpErrorKind.NoMatchingRtr, "mpa-rtr")]
    [InlineData(IwarpErrorKind.InsufficientIrd, "mpa-ird-ord")]
    public void Decide_TransferErrorKinds_MapToTheirCause(IwarpErrorKind kind, string cause)
    {
        var o = Connected(o => o.Failure = Failed(new IwarpException(kind, ConnectionPhase.FullOperation, kind.ToString())));

        Assert.Equal(cause, VerdictRules.Decide(o).Cause.Id);
    }

    [Fact]
    public void Decide_DataCameBackDifferent_Corrupt()
    {
        var o = Connected(o => o.Failure = Failed(null, "write", 65536, "the server's SHA-256 of 65536 octets is 12AB…"));

        CheckVerdict v = Expect(o, CheckCauses.Corrupt);

        Assert.Contains("The write of 65536 octets", v.Sentence);
    }

    [Fact]
    public void Decide_AnswersThatAreNoProbeMessages_ProbeUnsupported()
    {
        var o = Connected(o => o.Failure = new OperationFailure("hello", 0, StageNames.RdmaOps, null, "the server's reply is not a probe message", NotProbeServer: true));

        Assert.Equal(CheckCauses.ProbeUnsupported, VerdictRules.Decide(o).Cause);
    }

    [Fact]
    public void Decide_TerminateReceived_DecodesLayerTypeCodeAndAdvises()
    {
        var terminate = new TerminateHeader(TerminateErrors.RdmapStreamCatastrophic);
        var o = Connected(o => o.Failure = Failed(
            new IwarpException(IwarpErrorKind.TerminateReceived, ConnectionPhase.FullOperation, "the peer sent Terminate 0/2/0x07") { Terminate = terminate, DetectedBy = ErrorSource.Peer },
            "read", 64));

        CheckVerdict v = Expect(o, CheckCauses.Terminate);

        Assert.Contains("198.51.100.2 terminated the RDMAP stream during the read of 64 octets with Terminate layer Rdmap (0), type 2, code 0x07 (rdmap.operation.stream_catastrophic)", v.Sentence);
        Assert.Contains("IRD", v.Fix);
    }

    [Fact]
    public void Decide_DdpTerminateOnHello_HintsAtAPeerThatIsNotServeSoft()
    {
        var terminate = new TerminateHeader(TerminateErrors.DdpUntaggedNoBuffer);
        var o = Connected(o => o.Failure = new OperationFailure("hello", 0, StageNames.RdmaOps,
            new IwarpException(IwarpErrorKind.TerminateReceived, ConnectionPhase.FullOperation, "Terminate 1/2/0x02") { Terminate = terminate }, "t"));

        Assert.Contains("not `rdmadiag serve --soft`", VerdictRules.Decide(o).Sentence);
    }

    [Fact]
    public void Decide_OrdZeroAfterNegotiation_MpaIrdOrd()
    {
        var o = Connected(o =>
        {
            o.Parameters = Negotiated(ord: 0, peerIrd: 0);
            o.Failure = Failed(new IwarpException(IwarpErrorKind.LocalResourceLimit, ConnectionPhase.FullOperation, "the negotiated ORD is 0"), "read", 64);
        });

        CheckVerdict v = Expect(o, CheckCauses.MpaIrdOrd);

        Assert.Contains("offered IRD 0", v.Sentence);
    }

    [Fact]
    public void Decide_EverythingVerified_OkListsOperationsAndSizes()
    {
        var o = Connected(o => o.Operations.Add(new ProbeResult("send", 1 << 20, true, TimeSpan.FromMilliseconds(3), "")));

        CheckVerdict v = Expect(o, CheckCauses.Ok);

        Assert.Null(v.Side);
        Assert.Contains("Send, RDMA Write, RDMA Read verified at 64 B, 1 MiB", v.Sentence);
        Assert.Contains("MPA rev 2, CRC off", v.Sentence);
    }

    [Fact]
    public void Decide_HardwareIwarpOnTheRoute_SaysHostFirewallAndCaptureDoNotApply()
    {
        var o = Observe();
        o.Devices = [new RouteDevice("cxgb4_0", "cxgb4", "iWARP", HardwareIwarp: true)];
        o.SetupError = Tcp(IwarpErrorKind.TcpTimeout, SocketError.TimedOut, TimeSpan.FromSeconds(5));

        CheckVerdict v = Expect(o, CheckCauses.TcpFiltered);

        Assert.Contains("cxgb4_0 (cxgb4, iWARP, hardware iWARP) is bound to eth0", v.Sentence);
        Assert.Contains("host capture does not see", v.Sentence);
        Assert.Contains("port mirroring", v.Fix);
    }
}
