using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// Connection setup between two endpoints over loopback across the negotiation space: MPA revision ×
/// CRC policy (both sides), markers in each direction (requested and refused), and peer-to-peer RTR
/// types (offered × accepted). Each established connection then carries <see cref="Traffic"/> with
/// small segments, so CRC and marker framing are exercised, not just agreed.
/// </summary>
public class NegotiationMatrixTests
{
    private static readonly CrcPolicy[] Policies = Enum.GetValues<CrcPolicy>();

    public static TheoryData<byte, byte, CrcPolicy, CrcPolicy> RevisionAndCrc()
    {
        var data = new TheoryData<byte, byte, CrcPolicy, CrcPolicy>();
        foreach (byte clientRev in new byte[] { 1, 2 })
        {
            foreach (byte serverRev in new byte[] { 1, 2 })
            {
                foreach (CrcPolicy client in Policies)
                {
                    foreach (CrcPolicy server in Policies)
                    {
                        data.Add(clientRev, serverRev, client, server);
                    }
                }
            }
        }
        return data;
    }

    private static bool SendsC(CrcPolicy policy) => policy is CrcPolicy.Preferred or CrcPolicy.Required;

    [Theory]
    [MemberData(nameof(RevisionAndCrc))]
    public async Task Setup_RevisionAndCrcPolicies_AgreeOrFailWithTypedCause(byte clientRev, byte serverRev, CrcPolicy clientCrc, CrcPolicy serverCrc)
    {
        var traffic = new Traffic();
        using SetupOutcome outcome = await EndpointPair.TryConnectAsync(
            new IwarpSetupOptions { MpaRevision = clientRev, Crc = clientCrc },
            new IwarpSetupOptions { MpaRevision = serverRev, Crc = serverCrc },
            Traffic.SmallSegments, Traffic.SmallSegments, traffic.PrepareClient, traffic.PrepareServer);

        if (clientRev > serverRev)
        {
            Assert.Equal(IwarpErrorKind.ConnectionClosed, outcome.ClientError?.Kind);
            Assert.Equal(ConnectionPhase.MpaHandshake, outcome.ClientError!.Phase);
            Assert.Contains(outcome.Pair.ListenerFailures, f => f.Kind == IwarpErrorKind.RevisionIncompatible);
            return;
        }
        if (SendsC(clientCrc) && serverCrc == CrcPolicy.Forbidden)
        {
            Assert.Equal(IwarpErrorKind.CrcPolicyConflict, outcome.ClientError?.Kind);
            Assert.Equal(ErrorSource.Peer, outcome.ClientError!.DetectedBy);
            Assert.True(outcome.ClientError.PeerFrame?.Rejected);
            Assert.Contains(outcome.Pair.ListenerFailures, f => f.Kind == IwarpErrorKind.CrcPolicyConflict);
            return;
        }
        if (clientCrc == CrcPolicy.Forbidden && SendsC(serverCrc))
        {
            Assert.Equal(IwarpErrorKind.CrcPolicyConflict, outcome.ClientError?.Kind);
            Assert.Equal(ErrorSource.Local, outcome.ClientError!.DetectedBy);
            return;
        }

        Assert.Null(outcome.ClientError);
        bool crc = SendsC(clientCrc) || SendsC(serverCrc);
        foreach (NegotiatedParameters parameters in new[] { outcome.Pair.ClientParameters, outcome.Pair.ServerParameters })
        {
            Assert.Equal(crc, parameters.Crc);
            Assert.Equal(clientRev, parameters.RequestRevision);
            Assert.Equal(clientRev, parameters.ReplyRevision);
            Assert.Equal(clientRev == 2, parameters.Enhanced);
        }
        Assert.Equal(crc, outcome.Pair.ClientParameters.Request.CrcPreferred || outcome.Pair.ClientParameters.Reply.CrcPreferred);
        traffic.Run(outcome.Pair);
    }

    public static TheoryData<byte, bool, bool, bool, bool, CrcPolicy> Markers()
    {
        var data = new TheoryData<byte, bool, bool, bool, bool, CrcPolicy>();
        bool[] both = [false, true];
        foreach (byte rev in new byte[] { 1, 2 })
        {
            foreach (bool clientAsks in both)
            {
                foreach (bool serverAsks in both)
                {
                    foreach (bool clientRefuses in both)
                    {
                        foreach (bool serverRefuses in both)
                        {
                            foreach (CrcPolicy crc in new[] { CrcPolicy.Off, CrcPolicy.Required })
                            {
                                data.Add(rev, clientAsks, serverAsks, clientRefuses, serverRefuses, crc);
                            }
                        }
                    }
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Markers))]
    public async Task Setup_MarkersEachWay_InsertedWhereAskedOrRefusedWithTypedCause(
        byte rev, bool clientAsks, bool serverAsks, bool clientRefuses, bool serverRefuses, CrcPolicy crc)
    {
        var traffic = new Traffic();
        using SetupOutcome outcome = await EndpointPair.TryConnectAsync(
            new IwarpSetupOptions { MpaRevision = rev, Crc = crc, RequestMarkers = clientAsks, AcceptPeerMarkers = !clientRefuses },
            new IwarpSetupOptions { Crc = crc, RequestMarkers = serverAsks, AcceptPeerMarkers = !serverRefuses },
            Traffic.SmallSegments, Traffic.SmallSegments, traffic.PrepareClient, traffic.PrepareServer);

        if (clientAsks && serverRefuses)
        {
            Assert.Equal(IwarpErrorKind.MarkersNotSupported, outcome.ClientError?.Kind);
            Assert.Equal(ErrorSource.Peer, outcome.ClientError!.DetectedBy);
            Assert.Contains(outcome.Pair.ListenerFailures, f => f.Kind == IwarpErrorKind.MarkersNotSupported);
            return;
        }
        if (serverAsks && clientRefuses)
        {
            Assert.Equal(IwarpErrorKind.MarkersNotSupported, outcome.ClientError?.Kind);
            Assert.Equal(ErrorSource.Local, outcome.ClientError!.DetectedBy);
            return;
        }
        Assert.Null(outcome.ClientError);
        NegotiatedParameters client = outcome.Pair.ClientParameters;
        NegotiatedParameters server = outcome.Pair.ServerParameters;
        Assert.Equal((serverAsks, clientAsks), (client.MarkersSent, client.MarkersReceived));
        Assert.Equal((clientAsks, serverAsks), (server.MarkersSent, server.MarkersReceived));
        // RFC 5044 §5: 536 − (6 + 4·⌈536/512⌉ + 536 mod 4) = 522 with markers, 536 − 6 = 530 without.
        Assert.Equal(client.MarkersSent ? 522 : 530, client.Mulpdu);
        traffic.Run(outcome.Pair);
    }

    public static TheoryData<RtrTypes, RtrTypes, CrcPolicy> PeerToPeer()
    {
        RtrTypes[] sets = [RtrTypes.None, RtrTypes.Send, RtrTypes.Write, RtrTypes.Read, RtrTypes.All];
        var data = new TheoryData<RtrTypes, RtrTypes, CrcPolicy>();
        foreach (RtrTypes client in sets)
        {
            foreach (RtrTypes server in sets)
            {
                foreach (CrcPolicy crc in new[] { CrcPolicy.Off, CrcPolicy.Required })
                {
                    data.Add(client, server, crc);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(PeerToPeer))]
    public async Task Setup_PeerToPeerRtrTypes_UseOneCommonRtrOrTerminateWithCode7(RtrTypes clientTypes, RtrTypes serverTypes, CrcPolicy crc)
    {
        var traffic = new Traffic();
        using SetupOutcome outcome = await EndpointPair.TryConnectAsync(
            new IwarpSetupOptions { Crc = crc, PeerToPeer = clientTypes },
            new IwarpSetupOptions { Crc = crc, PeerToPeer = serverTypes },
            Traffic.SmallSegments, Traffic.SmallSegments, traffic.PrepareClient, traffic.PrepareServer);

        RtrTypes accepted = serverTypes == RtrTypes.None ? RtrTypes.Write | RtrTypes.Read : serverTypes;
        RtrTypes common = clientTypes & accepted;
        if (clientTypes != RtrTypes.None && common == RtrTypes.None)
        {
            Assert.Equal(IwarpErrorKind.NoMatchingRtr, outcome.ClientError?.Kind);
            IwarpException server = Traffic.WaitForError(outcome.Pair.Server);
            Assert.Equal(IwarpErrorKind.NoMatchingRtr, server.Kind);
            Assert.Equal(ErrorSource.Peer, server.DetectedBy);
            Assert.Equal(0x20, server.Terminate!.Value.LayerValue << 4 | server.Terminate.Value.EType);
            Assert.Equal(7, server.Terminate.Value.ErrorCode);
            return;
        }

        Assert.Null(outcome.ClientError);
        RtrType expected = clientTypes == RtrTypes.None ? RtrType.None
            : (common & RtrTypes.Write) != 0 ? RtrType.Write
            : (common & RtrTypes.Read) != 0 ? RtrType.Read
            : RtrType.Send;
        Assert.Equal(clientTypes != RtrTypes.None, outcome.Pair.ClientParameters.PeerToPeer);
        Assert.Equal(expected, outcome.Pair.ClientParameters.Rtr);
        traffic.Run(outcome.Pair);
        Assert.Equal(expected, outcome.Pair.Server.Parameters!.Rtr);
    }

    [Theory]
    [InlineData(RtrTypes.Send)]
    [InlineData(RtrTypes.Write)]
    [InlineData(RtrTypes.Read)]
    public async Task Setup_MarkersBothWaysWithCrcAndPeerToPeer_CarryTraffic(RtrTypes rtr)
    {
        var traffic = new Traffic();
        var setup = new IwarpSetupOptions { Crc = CrcPolicy.Required, RequestMarkers = true, PeerToPeer = rtr };
        using SetupOutcome outcome = await EndpointPair.TryConnectAsync(setup, setup,
            Traffic.SmallSegments, Traffic.SmallSegments, traffic.PrepareClient, traffic.PrepareServer);

        Assert.Null(outcome.ClientError);
        Assert.True(outcome.Pair.ClientParameters is { Crc: true, MarkersSent: true, MarkersReceived: true, PeerToPeer: true });
        traffic.Run(outcome.Pair);
    }
}
