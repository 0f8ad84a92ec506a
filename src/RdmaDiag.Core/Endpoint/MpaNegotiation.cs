using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Endpoint;

/// <summary>
/// The responder's decision on a Request: accept with these parameters, or refuse. A refusal may come
/// with a rejecting Reply (R=1, as siw sends for M=1 or a forbidden C=1) or none (close, as RFC 5044
/// asks for a revision it cannot speak).
/// </summary>
internal sealed record RequestDecision
{
    public IwarpException? Refusal { get; init; }

    public MpaStartFrame? RefusalReply { get; init; }

    public byte ReplyRevision { get; init; }

    public bool Enhanced { get; init; }

    public bool Crc { get; init; }

    public bool MarkersSent { get; init; }

    public bool MarkersReceived { get; init; }

    public bool PeerToPeer { get; init; }

    /// <summary>RTR types offered in the Reply (exactly one when a common type exists).</summary>
    public RtrTypes OfferedRtr { get; init; }

    public int Ird { get; init; }

    public int Ord { get; init; }

    public MpaV2Block? ReplyBlock { get; init; }

    public MpaStartFrame Reply(ReadOnlyMemory<byte> privateData, bool rejected) =>
        MpaStartFrame.Reply(Crc, ReplyBlock, privateData, rejected, markersRequired: MarkersReceived && !rejected) with { Rev = ReplyRevision };
}

/// <summary>
/// The pure part of MPA connection setup (RFC 5044 §7, RFC 6581 §3): frames to send and decisions on
/// frames received, following what siw and cxgb4 do where the RFCs leave a choice (iwarp-wire.md §3, §7).
/// </summary>
internal static class MpaNegotiation
{
    /// <summary>RTR types a responder accepts when not told: siw's (it never takes a Send RTR).</summary>
    public const RtrTypes ResponderDefaultRtr = RtrTypes.Write | RtrTypes.Read;

    private static bool SendsCrc(CrcPolicy policy) => policy is CrcPolicy.Preferred or CrcPolicy.Required;

    /// <summary>The initiator's ORD as sent: siw raises 0 to 1 when a Read RTR may be needed.</summary>
    private static ushort RequestOrd(IwarpSetupOptions options) =>
        (options.PeerToPeer & RtrTypes.Read) != 0 && options.Ord == 0 ? (ushort)1 : options.Ord;

    public static MpaStartFrame BuildRequest(IwarpSetupOptions options, ReadOnlyMemory<byte> privateData)
    {
        MpaV2Block? block = null;
        if (options.Enhanced)
        {
            RtrTypes rtr = options.PeerToPeer;
            block = new MpaV2Block(options.Ird, RequestOrd(options), peerToPeer: rtr != RtrTypes.None,
                sendRtr: (rtr & RtrTypes.Send) != 0, writeRtr: (rtr & RtrTypes.Write) != 0, readRtr: (rtr & RtrTypes.Read) != 0);
        }
        return MpaStartFrame.Request(SendsCrc(options.Crc), block, privateData, options.RequestMarkers);
    }

    /// <summary>Picks one RTR type from a set, preferring Write, then Read, then Send (siw's order).</summary>
    public static RtrType Choose(RtrTypes types) =>
        (types & RtrTypes.Write) != 0 ? RtrType.Write
        : (types & RtrTypes.Read) != 0 ? RtrType.Read
        : (types & RtrTypes.Send) != 0 ? RtrType.Send
        : RtrType.None;

    public static RtrTypes ToTypes(RtrType type) => type switch
    {
        RtrType.Send => RtrTypes.Send,
        RtrType.Write => RtrTypes.Write,
        RtrType.Read => RtrTypes.Read,
        _ => RtrTypes.None,
    };

    public static RtrTypes Offered(MpaV2Block block) =>
        (block.SendRtr ? RtrTypes.Send : 0) | (block.WriteRtr ? RtrTypes.Write : 0) | (block.ReadRtr ? RtrTypes.Read : 0);

    /// <summary>The responder's decision on a decoded Request (key, Rev ≤ 2 and PD_Length already checked by the decoder).</summary>
    public static RequestDecision EvaluateRequest(MpaStartFrame request, IwarpSetupOptions options)
    {
        bool wantCrc = SendsCrc(options.Crc);
        var decision = new RequestDecision { ReplyRevision = request.Rev, Crc = request.CrcPreferred || wantCrc };

        if (request.IsReply)
        {
            return Refuse(decision, IwarpErrorKind.MalformedStartFrame, request,
                "received an MPA Reply where a Request was expected: both sides act as MPA initiator", reply: false);
        }
        if (request.Rev is 0 || request.Rev > options.MpaRevision)
        {
            return Refuse(decision, IwarpErrorKind.RevisionIncompatible, request,
                $"the MPA Request has Rev {request.Rev}; this responder speaks Rev 1{(options.MpaRevision >= 2 ? " and 2" : "")}", reply: false);
        }
        bool enhanced = request.Enhanced && request.Rev >= 2;
        if (request.IsEnhancedBlockMissing)
        {
            return Refuse(decision with { Crc = request.CrcPreferred || wantCrc }, IwarpErrorKind.MalformedStartFrame, request,
                $"the MPA Request has S=1 at Rev {request.Rev} but PD_Length {request.PrivateDataLength} leaves no room for the 4-octet RFC 6581 block", reply: true);
        }
        if (request.MarkersRequired && !options.AcceptPeerMarkers)
        {
            return Refuse(decision with { Enhanced = enhanced, ReplyBlock = enhanced ? new MpaV2Block(0, 0) : null }, IwarpErrorKind.MarkersNotSupported, request,
                "the MPA Request demands markers (M=1) and this endpoint is set not to insert them (as siw)", reply: true);
        }
        if (request.CrcPreferred && options.Crc == CrcPolicy.Forbidden)
        {
            return Refuse(decision with { Crc = false, Enhanced = enhanced, ReplyBlock = enhanced ? new MpaV2Block(0, 0) : null }, IwarpErrorKind.CrcPolicyConflict, request,
                "the MPA Request asks for CRCs (C=1) and this endpoint's CRC policy is 'forbidden'", reply: true);
        }

        decision = decision with
        {
            Enhanced = enhanced,
            MarkersSent = request.MarkersRequired,
            MarkersReceived = options.RequestMarkers,
            Ird = options.Ird,
            Ord = options.Ord,
        };
        if (!enhanced || request.V2Block is not { } peer)
        {
            return decision;
        }

        // RFC 6581 §3.3: responder IRD ≥ initiator ORD, responder ORD ≤ initiator IRD; 0x3FFF opts out.
        bool irdOptOut = peer.Ord == MpaV2Block.NoNegotiation;
        bool ordOptOut = peer.Ird == MpaV2Block.NoNegotiation;
        int ird = options.Ird;
        if (!irdOptOut && peer.Ord > ird && !options.RelaxedIrdOrd)
        {
            return Refuse(decision with { ReplyBlock = new MpaV2Block(options.Ird, options.Ord) }, IwarpErrorKind.InsufficientIrd, request,
                $"the initiator's ORD {peer.Ord} exceeds this responder's IRD {ird} and IRD/ORD negotiation is strict", reply: true);
        }
        int ord = ordOptOut ? options.Ord : Math.Min(options.Ord, peer.Ird);

        RtrTypes offered = RtrTypes.None;
        if (peer.PeerToPeer)
        {
            RtrTypes acceptable = options.PeerToPeer == RtrTypes.None ? ResponderDefaultRtr : options.PeerToPeer;
            RtrType chosen = Choose(Offered(peer) & acceptable);
            offered = chosen == RtrType.None ? acceptable : ToTypes(chosen);
            if (chosen == RtrType.Read && ird == 0)
            {
                ird = 1;
            }
        }
        var block = new MpaV2Block(
            irdOptOut ? MpaV2Block.NoNegotiation : (ushort)Math.Min(ird, MpaV2Block.MaxValue - 1),
            ordOptOut ? MpaV2Block.NoNegotiation : (ushort)ord,
            peerToPeer: peer.PeerToPeer, sendRtr: (offered & RtrTypes.Send) != 0,
            writeRtr: (offered & RtrTypes.Write) != 0, readRtr: (offered & RtrTypes.Read) != 0);
        return decision with
        {
            Ird = ird,
            Ord = ord,
            PeerToPeer = peer.PeerToPeer,
            OfferedRtr = offered,
            ReplyBlock = block,
        };
    }

    private static RequestDecision Refuse(RequestDecision decision, IwarpErrorKind kind, MpaStartFrame request, string message, bool reply)
    {
        var refused = decision with
        {
            Refusal = new IwarpException(kind, ConnectionPhase.MpaHandshake, message) { PeerFrame = request },
        };
        return reply ? refused with { RefusalReply = refused.Reply(default, rejected: true) } : refused;
    }

    /// <summary>The initiator's verdict on a Reply: parameters, or a failure and the Terminate to send first (MPA codes 6 and 7).</summary>
    public static NegotiatedParameters EvaluateReply(MpaStartFrame request, MpaStartFrame reply, IwarpSetupOptions options, out TerminateError? terminate)
    {
        terminate = null;
        if (!reply.IsReply)
        {
            throw Fail(IwarpErrorKind.MalformedStartFrame, reply, "received an MPA Request where the Reply was expected: both sides act as MPA initiator");
        }
        if (reply.Rev is 0 || reply.Rev > request.Rev)
        {
            throw Fail(IwarpErrorKind.RevisionIncompatible, reply, $"the MPA Reply has Rev {reply.Rev}; the Request offered Rev {request.Rev}");
        }
        if (reply.Rejected)
        {
            throw Rejected(request, reply);
        }
        if (reply.MarkersRequired && !options.AcceptPeerMarkers)
        {
            throw Fail(IwarpErrorKind.MarkersNotSupported, reply, "the MPA Reply demands markers (M=1) and this endpoint is set not to insert them (as siw)");
        }
        if (options.Crc == CrcPolicy.Required && !reply.CrcPreferred)
        {
            throw Fail(IwarpErrorKind.CrcPolicyConflict, reply, "CRC policy 'required', but the MPA Reply has C=0 (the responder does not confirm CRCs)");
        }
        if (options.Crc == CrcPolicy.Forbidden && reply.CrcPreferred)
        {
            throw Fail(IwarpErrorKind.CrcPolicyConflict, reply, "CRC policy 'forbidden', but the MPA Reply has C=1 (the responder insists on CRCs)");
        }

        bool enhanced = request.V2Block is not null;
        int ird = options.Ird;
        int ord = request.V2Block?.Ord ?? options.Ord;
        bool p2p = false;
        RtrType rtr = RtrType.None;
        if (enhanced)
        {
            if (reply.Rev < 2 || !reply.Enhanced || reply.V2Block is not { } peer)
            {
                throw Fail(IwarpErrorKind.MalformedStartFrame, reply,
                    $"the MPA Request was enhanced (Rev 2, S=1) but the Reply is Rev {reply.Rev} with S={(reply.Enhanced ? 1 : 0)}{(reply.IsEnhancedBlockMissing ? " and no room for the RFC 6581 block" : "")}");
            }
            if (peer.Ord != MpaV2Block.NoNegotiation && peer.Ord > options.Ird)
            {
                terminate = TerminateErrors.MpaInsufficientIrd;
                throw Fail(IwarpErrorKind.InsufficientIrd, reply, $"the responder's ORD {peer.Ord} exceeds this initiator's IRD {options.Ird}");
            }
            if (peer.Ird != MpaV2Block.NoNegotiation && ord > peer.Ird)
            {
                if (!options.RelaxedIrdOrd)
                {
                    terminate = TerminateErrors.MpaInsufficientIrd;
                    throw Fail(IwarpErrorKind.InsufficientIrd, reply, $"this initiator's ORD {ord} exceeds the responder's IRD {peer.Ird} and IRD/ORD negotiation is strict");
                }
                ord = peer.Ird;
            }
            RtrTypes ours = request.V2Block is { } sent ? Offered(sent) : RtrTypes.None;
            if (request.V2Block?.PeerToPeer == true)
            {
                rtr = peer.PeerToPeer ? Choose(ours & Offered(peer)) : RtrType.None;
                if (rtr == RtrType.None)
                {
                    terminate = TerminateErrors.MpaNoMatchingRtr;
                    throw Fail(IwarpErrorKind.NoMatchingRtr, reply,
                        $"peer-to-peer RTR: this initiator can send {Describe(ours)}, the Reply {(peer.PeerToPeer ? $"accepts {Describe(Offered(peer))}" : "has A=0 (client/server)")}");
                }
                if (rtr == RtrType.Read && ord == 0)
                {
                    terminate = TerminateErrors.MpaInsufficientIrd;
                    throw Fail(IwarpErrorKind.InsufficientIrd, reply, "the chosen Read RTR needs ORD ≥ 1 but the responder's IRD is 0");
                }
                p2p = true;
            }
        }

        return new NegotiatedParameters
        {
            Role = ConnectionRole.Initiator,
            RequestRevision = request.Rev,
            ReplyRevision = reply.Rev,
            Enhanced = enhanced,
            Crc = request.CrcPreferred || reply.CrcPreferred,
            MarkersSent = reply.MarkersRequired,
            MarkersReceived = request.MarkersRequired,
            PeerToPeer = p2p,
            Rtr = rtr,
            Ird = ird,
            Ord = ord,
            PeerIrd = reply.V2Block?.Ird,
            PeerOrd = reply.V2Block?.Ord,
            LocalPrivateData = request.PrivateData,
            PeerPrivateData = reply.PrivateData,
            Request = request,
            Reply = reply,
        };
    }

    /// <summary>
    /// A rejecting Reply, classified when the flags point at a cause: siw clears C in a reject caused by
    /// its strict CRC setting, and rejects every Request with M=1.
    /// </summary>
    private static IwarpException Rejected(MpaStartFrame request, MpaStartFrame reply)
    {
        string pd = reply.PrivateData.IsEmpty ? "no private data" : $"{reply.PrivateData.Length} octets of private data: {IwarpException.FormatBytes(reply.PrivateData.Span[..Math.Min(64, reply.PrivateData.Length)])}";
        (IwarpErrorKind kind, string why) = (request, reply) switch
        {
            _ when request.MarkersRequired && reply.PrivateData.IsEmpty =>
                (IwarpErrorKind.MarkersNotSupported, "the Request demanded markers (M=1), which siw and most responders refuse this way"),
            _ when request.CrcPreferred && !reply.CrcPreferred && reply.PrivateData.IsEmpty =>
                (IwarpErrorKind.CrcPolicyConflict, "the Request asked for CRCs (C=1) and the reject carries C=0, as siw sends when CRCs are forbidden there"),
            _ when reply.V2Block is { Ird: > 0 and < MpaV2Block.NoNegotiation } offered && request.V2Block is { } asked
                && asked.Ord != MpaV2Block.NoNegotiation && offered.Ird < asked.Ord && reply.PrivateData.IsEmpty =>
                (IwarpErrorKind.InsufficientIrd, $"the reject's RFC 6581 block offers IRD {offered.Ird}, below the Request's ORD {asked.Ord} (RFC 6581 §3.3)"),
            _ => (IwarpErrorKind.MpaRejected, "the responder's ULP or policy refused the connection"),
        };
        return new IwarpException(kind, ConnectionPhase.MpaHandshake, $"MPA Reply with R=1 (reject): {why}; {pd}")
        {
            DetectedBy = ErrorSource.Peer,
            PeerFrame = reply,
            PeerPrivateData = reply.PrivateData,
        };
    }

    private static IwarpException Fail(IwarpErrorKind kind, MpaStartFrame reply, string message) =>
        new(kind, ConnectionPhase.MpaHandshake, message) { PeerFrame = reply, PeerPrivateData = reply.PrivateData };

    public static string Describe(RtrTypes types) => types == RtrTypes.None ? "no RTR type" : types.ToString().ToLowerInvariant().Replace(", ", "+");

    /// <summary>The responder's parameters once it accepts with <paramref name="reply"/>.</summary>
    public static NegotiatedParameters ResponderParameters(MpaStartFrame request, MpaStartFrame reply, RequestDecision decision) => new()
    {
        Role = ConnectionRole.Responder,
        RequestRevision = request.Rev,
        ReplyRevision = reply.Rev,
        Enhanced = decision.Enhanced,
        Crc = decision.Crc,
        MarkersSent = decision.MarkersSent,
        MarkersReceived = decision.MarkersReceived,
        PeerToPeer = decision.PeerToPeer,
        Rtr = decision.PeerToPeer && decision.OfferedRtr is RtrTypes.Send or RtrTypes.Write or RtrTypes.Read
            ? Choose(decision.OfferedRtr) : RtrType.None,
        Ird = decision.Ird,
        Ord = decision.Ord,
        PeerIrd = request.V2Block?.Ird,
        PeerOrd = request.V2Block?.Ord,
        LocalPrivateData = reply.PrivateData,
        PeerPrivateData = request.PrivateData,
        Request = request,
        Reply = reply,
    };
}
