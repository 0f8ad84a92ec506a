using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Endpoint;

/// <summary>Which MPA role this side played: the initiator sends the Request.</summary>
public enum ConnectionRole : byte
{
    Initiator,
    Responder,
}

/// <summary>The one RTR a peer-to-peer connection uses (RFC 6581 §3.4), or None for client/server.</summary>
public enum RtrType : byte
{
    None = 0,
    Send,
    Write,
    Read,
}

/// <summary>
/// What both sides agreed during MPA setup, with the raw frames for evidence. Named after Wireshark's
/// <c>iwarp_mpa.*</c> fields where one exists.
/// </summary>
public sealed record NegotiatedParameters
{
    public required ConnectionRole Role { get; init; }

    /// <summary>Rev of the Request (iwarp_mpa.rev in the Request).</summary>
    public required byte RequestRevision { get; init; }

    /// <summary>Rev of the Reply.</summary>
    public required byte ReplyRevision { get; init; }

    /// <summary>True when both frames carried the RFC 6581 block (S=1, Rev 2).</summary>
    public required bool Enhanced { get; init; }

    /// <summary>CRCs are generated and checked (C=1 in either frame).</summary>
    public required bool Crc { get; init; }

    /// <summary>We insert markers in what we send (the peer's frame had M=1).</summary>
    public required bool MarkersSent { get; init; }

    /// <summary>The peer inserts markers in what it sends (our frame had M=1).</summary>
    public required bool MarkersReceived { get; init; }

    /// <summary>Peer-to-peer model (A=1 in both frames).</summary>
    public required bool PeerToPeer { get; init; }

    /// <summary>The RTR used to open the responder's MPA fence, None in client/server mode.</summary>
    public required RtrType Rtr { get; init; }

    /// <summary>Inbound Read/Atomic Requests this side accepts at once (enforced).</summary>
    public required int Ird { get; init; }

    /// <summary>Outbound Read/Atomic Requests this side keeps outstanding at once (enforced).</summary>
    public required int Ord { get; init; }

    /// <summary>The peer's IRD exactly as it sent it (14 bits), null without the RFC 6581 block.</summary>
    public ushort? PeerIrd { get; init; }

    /// <summary>The peer's ORD exactly as it sent it, null without the RFC 6581 block.</summary>
    public ushort? PeerOrd { get; init; }

    /// <summary>ULP private data we sent (RFC 6581 block excluded).</summary>
    public ReadOnlyMemory<byte> LocalPrivateData { get; init; }

    /// <summary>ULP private data the peer sent (RFC 6581 block excluded).</summary>
    public ReadOnlyMemory<byte> PeerPrivateData { get; init; }

    public required MpaStartFrame Request { get; init; }

    public required MpaStartFrame Reply { get; init; }

    /// <summary>The EMSS the FPDUs we send are sized from (TCP_MAXSEG, or the configured override).</summary>
    public int Emss { get; init; }

    /// <summary>The largest ULPDU we send (RFC 5044 §5 from <see cref="Emss"/>).</summary>
    public int Mulpdu { get; init; }

    /// <summary>One line for logs: <c>rev 2/2 crc off markers -/- p2p write ird 16 ord 16 pd 0/0 mulpdu 32762</c>.</summary>
    public override string ToString() =>
        $"rev {RequestRevision}/{ReplyRevision}{(Enhanced ? " enhanced" : "")} crc {(Crc ? "on" : "off")} "
        + $"markers {(MarkersSent ? "tx" : "-")}/{(MarkersReceived ? "rx" : "-")} "
        + $"p2p {(PeerToPeer ? Rtr.ToString().ToLowerInvariant() : "no")} ird {Ird} ord {Ord}"
        + (PeerIrd is { } pi ? $" peer-ird {pi} peer-ord {PeerOrd}" : "")
        + $" pd {LocalPrivateData.Length}/{PeerPrivateData.Length} emss {Emss} mulpdu {Mulpdu}";
}
