using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>The pure decisions of RFC 6581 §3.3/§3.4 negotiation, without sockets.</summary>
public class MpaNegotiationTests
{
    private static MpaStartFrame Request(ushort ird, ushort ord, bool p2p = false, bool send = false, bool write = false, bool read = false) =>
        MpaStartFrame.Request(false, new MpaV2Block(ird, ord, p2p, send, write, read), default);

    [Fact]
    public void Responder_InitiatorOrdWithinIrd_RepliesItsIrdAndOrdCappedByInitiatorIrd()
    {
        RequestDecision decision = MpaNegotiation.EvaluateRequest(Request(ird: 4, ord: 8), new IwarpSetupOptions { Ird = 16, Ord = 16 });

        Assert.Null(decision.Refusal);
        Assert.Equal((16, 4), (decision.Ird, decision.Ord));
        Assert.Equal((16, 4), ((int)decision.ReplyBlock!.Value.Ird, (int)decision.ReplyBlock.Value.Ord));
    }

    [Fact]
    public void Responder_NoNegotiationValues_AnswersNoNegotiation()
    {
        RequestDecision decision = MpaNegotiation.EvaluateRequest(Request(MpaV2Block.NoNegotiation, MpaV2Block.NoNegotiation), IwarpSetupOptions.Default);

        Assert.Equal((MpaV2Block.NoNegotiation, MpaV2Block.NoNegotiation), (decision.ReplyBlock!.Value.Ird, decision.ReplyBlock.Value.Ord));
        Assert.Equal((16, 16), (decision.Ird, decision.Ord));
    }

    [Theory]
    [InlineData(true, null)]
    [InlineData(false, IwarpErrorKind.InsufficientIrd)]
    public void Responder_InitiatorOrdAboveIrd_ClampsWhenRelaxedRejectsWhenStrict(bool relaxed, IwarpErrorKind? refusal)
    {
        RequestDecision decision = MpaNegotiation.EvaluateRequest(Request(ird: 16, ord: 32), new IwarpSetupOptions { Ird = 8, RelaxedIrdOrd = relaxed });

        Assert.Equal(refusal, decision.Refusal?.Kind);
        if (refusal is not null)
        {
            Assert.True(decision.RefusalReply!.Value.Rejected);
            Assert.Equal(8, decision.RefusalReply.Value.V2Block!.Value.Ird);
        }
    }

    [Theory]
    [InlineData(false, true, true, RtrTypes.None, RtrTypes.Write)]
    [InlineData(false, false, true, RtrTypes.None, RtrTypes.Read)]
    [InlineData(true, false, false, RtrTypes.None, RtrTypes.Write | RtrTypes.Read)]
    [InlineData(true, false, false, RtrTypes.Send, RtrTypes.Send)]
    [InlineData(true, true, false, RtrTypes.Read, RtrTypes.Read)]
    public void Responder_PeerToPeer_OffersOneCommonRtrOrAllItAccepts(bool send, bool write, bool read, RtrTypes accepted, RtrTypes offered)
    {
        RequestDecision decision = MpaNegotiation.EvaluateRequest(Request(16, 16, p2p: true, send, write, read), new IwarpSetupOptions { PeerToPeer = accepted });

        Assert.True(decision.PeerToPeer);
        Assert.True(decision.ReplyBlock!.Value.PeerToPeer);
        Assert.Equal(offered, decision.OfferedRtr);
    }

    [Fact]
    public void Responder_ReadRtrWithIrdZero_RaisesIrdToOne()
    {
        RequestDecision decision = MpaNegotiation.EvaluateRequest(Request(16, 0, p2p: true, read: true), new IwarpSetupOptions { Ird = 0 });

        Assert.Equal(1, decision.Ird);
        Assert.Equal(1, decision.ReplyBlock!.Value.Ird);
    }

    [Fact]
    public void Initiator_PeerToPeerWithReadAndOrdZero_RequestsOrdOne()
    {
        MpaStartFrame request = MpaNegotiation.BuildRequest(new IwarpSetupOptions { Ord = 0, PeerToPeer = RtrTypes.Read }, default);

        Assert.Equal(1, request.V2Block!.Value.Ord);
        Assert.True(request.V2Block.Value is { PeerToPeer: true, ReadRtr: true, WriteRtr: false, SendRtr: false });
    }

    [Theory]
    [InlineData(true, 4)]
    [InlineData(false, -1)]
    public void Initiator_ResponderIrdBelowOrd_LowersOrdWhenRelaxedTerminatesWhenStrict(bool relaxed, int ord)
    {
        var options = new IwarpSetupOptions { Ord = 16, RelaxedIrdOrd = relaxed };
        MpaStartFrame request = MpaNegotiation.BuildRequest(options, default);
        MpaStartFrame reply = MpaStartFrame.Reply(false, new MpaV2Block(4, 16), default);

        if (relaxed)
        {
            Assert.Equal(ord, MpaNegotiation.EvaluateReply(request, reply, options, out _).Ord);
            return;
        }
        var error = Assert.Throws<IwarpException>(() => MpaNegotiation.EvaluateReply(request, reply, options, out _));
        Assert.Equal(IwarpErrorKind.InsufficientIrd, error.Kind);
        MpaNegotiation.EvaluateReply(request, MpaStartFrame.Reply(false, new MpaV2Block(16, 16), default), options, out TerminateError? none);
        Assert.Null(none);
    }

    [Fact]
    public void Initiator_Reject_KeepsPrivateDataAndSaysRejected()
    {
        MpaStartFrame request = MpaNegotiation.BuildRequest(IwarpSetupOptions.Default, default);
        MpaStartFrame reply = MpaStartFrame.Reply(false, new MpaV2Block(16, 16), "busy"u8.ToArray(), rejected: true);

        var error = Assert.Throws<IwarpException>(() => MpaNegotiation.EvaluateReply(request, reply, IwarpSetupOptions.Default, out _));

        Assert.Equal(IwarpErrorKind.MpaRejected, error.Kind);
        Assert.Equal("busy"u8.ToArray(), error.PeerPrivateData.ToArray());
        Assert.Contains("4 octets of private data", error.Message);
    }

    [Fact]
    public async Task PrivateData_BothWays_ReachesThePeerWithoutTheV2Block()
    {
        byte[] fromClient = [1, 2, 3];
        byte[] fromServer = [9, 8];
        using var pair = await EndpointPair.ConnectAsync(clientPrivateData: fromClient, serverPrivateData: fromServer);

        Assert.Equal(fromServer, pair.ClientParameters.PeerPrivateData.ToArray());
        Assert.Equal(fromClient, pair.ServerParameters.PeerPrivateData.ToArray());
        Assert.Equal(4 + 3, pair.ClientParameters.Request.PrivateDataLength);
    }

    [Theory]
    [InlineData(2, 252, false)]
    [InlineData(2, 253, true)]
    [InlineData(1, 256, false)]
    [InlineData(1, 257, true)]
    public void PrivateData_AgainstLinuxLimit_Rev2LeavesRoomForTheBlock(byte revision, int length, bool refused)
    {
        var options = new IwarpSetupOptions { MpaRevision = revision };

        Exception? error = Record.Exception(() => options.ValidatePrivateData(new byte[length]));

        Assert.Equal(refused, error is UserInputException);
    }
}
