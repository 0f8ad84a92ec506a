using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>
/// The findings the MPA/DDP/RDMAP decoder makes. Ids are stable: scripts and tests match on them. The TCP and
/// capture-file findings (<see cref="CaptureRules"/>) flow through the same sink.
/// </summary>
public static class IwarpRules
{
    public static readonly FindingRule RequestNoReply = new("mpa-request-no-reply", FindingSeverity.Error,
        "The responder accepted the TCP connection but never answered the MPA Request: its RDMA stack is not listening on this port " +
        "(a plain TCP server, a proxy), it does not speak MPA, or its ULP never accepted or rejected the connection. Check that the server " +
        "runs an iWARP listener on this port (rdmadiag serve, an rdma_cm listener); Linux siw initiators give up after 10 s, cxgb4 after 60 s.");

    public static readonly FindingRule ReplyRejected = new("mpa-reply-rejected", FindingSeverity.Error,
        "The responder rejected the connection (MPA Reply with R=1). Its private data (shown) usually says why: read it with the " +
        "server's ULP in mind (rdma_reject data, an RPC-over-RDMA or SMB Direct reason). Linux siw also rejects Requests with markers (M=1) " +
        "or an RFC 6581 block that is too short.");

    public static readonly FindingRule RevisionMismatch = new("mpa-revision-mismatch", FindingSeverity.Warning,
        "The MPA Request and Reply carry different revisions. RFC 5044 allows it, but the sides then disagree on enhanced connection " +
        "setup (RFC 6581 IRD/ORD and RTR). Configure both ends for the same MPA revision (siw: mpa_version; cxgb4: mpa_rev).");

    public static readonly FindingRule MarkersRequested = new("mpa-markers-requested", FindingSeverity.Warning,
        "A side asked for MPA markers (M=1). Linux siw does not implement markers and rejects such a Request; cxgb4 only with " +
        "markers_enabled. Turn markers off on the side that asks for them unless both ends support them.");

    public static readonly FindingRule InvalidStartFrame = new("mpa-invalid-start-frame", FindingSeverity.Error,
        "An MPA start frame is malformed or out of place (bad key, revision above 2, private data longer than 512 octets, a missing " +
        "RFC 6581 block, both sides acting as initiator). The receiver closes the connection (MPA error 4). Check the MPA " +
        "configuration of the side that sent it.");

    public static readonly FindingRule V2Negotiation = new("mpa-v2-negotiation", FindingSeverity.Warning,
        "The RFC 6581 IRD/ORD or RTR values of Request and Reply do not fit together: the initiator will have to send a Terminate " +
        "(MPA insufficient IRD, code 6, or no matching RTR, code 7) unless its stack relaxes them. Align the IRD/ORD (rdma_conn_param " +
        "initiator_depth/responder_resources) and the peer-to-peer RTR settings of both ends.");

    public static readonly FindingRule EarlyFpdu = new("mpa-early-fpdu", FindingSeverity.Error,
        "The initiator sent octets after its MPA Request before the Reply arrived. RFC 5044 forbids it; Linux siw and cxgb4 fail " +
        "the connection on octets behind a start frame. Fix the initiator to wait for the Reply.");

    public static readonly FindingRule CrcBad = new("mpa-crc-bad", FindingSeverity.Error,
        "An FPDU's CRC32c does not match its contents although CRCs were negotiated: the receiver drops it and terminates the " +
        "connection (MPA error 2). Something on the path changes payload (a middlebox, a NIC offload bug, bad memory): compare a " +
        "capture taken on the sender with one on the receiver.");

    public static readonly FindingRule CrcUnnegotiated = new("mpa-crc-unnegotiated", FindingSeverity.Note,
        "The FPDUs carry valid CRC32c values although neither side asked for CRCs (C=0 in both start frames), so the receiver does not " +
        "check them. That is allowed; to have them checked, set C=1 (siw: mpa_crc_required).");

    public static readonly FindingRule MarkerMismatch = new("mpa-marker-mismatch", FindingSeverity.Error,
        "A marker's FPDU pointer disagrees with the FPDU lengths (MPA error 3): the sender's marker placement or its length fields are " +
        "wrong. The receiver terminates the connection; fix the sender's marker implementation or turn markers off.");

    public static readonly FindingRule FramingLost = new("mpa-framing-lost", FindingSeverity.Error,
        "The octets where the next FPDU should start do not form a valid FPDU, so the FPDU framing was lost; decoding resumed only after a " +
        "chain of valid FPDUs was found again. The sender wrote a wrong ULPDU_Length, or something on the path altered the stream.");

    public static readonly FindingRule Resync = new("mpa-resync", FindingSeverity.Warning,
        "Octets of the stream are missing from the capture, so FPDU boundaries after the gap had to be found again (by markers, or by a " +
        "chain of valid FPDUs); FPDUs in and around the gap are not decoded and MSN/Read tracking restarts there. Capture with fewer drops " +
        "(a narrower filter, a larger buffer) to see everything.");

    public static readonly FindingRule MidStream = new("mpa-midstream", FindingSeverity.Note,
        "The capture starts after the MPA handshake, so the negotiated parameters were not seen; FPDU framing was recovered from a " +
        "chain of plausible ULPDU lengths (and CRCs where they verify). Start the capture before the connection is made to see the " +
        "handshake and to have everything checked.");

    public static readonly FindingRule Truncated = new("mpa-truncated", FindingSeverity.Warning,
        "The stream ended (connection closed, capture stopped, or the capture file is cut) in the middle of an MPA frame or FPDU. " +
        "If the connection closed there, the sender aborted mid-message; otherwise capture for longer.");

    public static readonly FindingRule FpduExceedsMss = new("mpa-fpdu-exceeds-mss", FindingSeverity.Warning,
        "An FPDU is larger than the receiver's TCP MSS, so it cannot travel in one segment. RFC 5044 asks senders to size FPDUs to the " +
        "effective MSS (MULPDU), and receivers that place directly from segments slow down or fail. Check the sender's MULPDU/MTU " +
        "settings and MSS clamping on the path.");

    public static readonly FindingRule DdpVersion = new("ddp-version", FindingSeverity.Error,
        "A DDP segment carries a DDP version (DV) other than 1 (RFC 5041). The receiver terminates the connection (DDP invalid version). " +
        "The peer is a pre-IETF RDMAC implementation (DV 0) or corrupts headers; configure it for IETF iWARP.");

    public static readonly FindingRule RdmapVersion = new("rdmap-version", FindingSeverity.Error,
        "An RDMAP message carries an RDMAP version (RV) other than 1 (RFC 5040). The receiver terminates the connection (RDMAP invalid " +
        "version). The peer is a pre-IETF RDMAC implementation (RV 0) or corrupts headers; configure it for IETF iWARP.");

    public static readonly FindingRule Malformed = new("rdmap-malformed", FindingSeverity.Error,
        "A DDP segment is not a valid RDMAP message (unassigned opcode, wrong buffer model or queue for its opcode, wrong header length). " +
        "The receiver terminates the connection. Peers without RFC 7306 support reject opcodes 8-11 (Linux siw does); otherwise the sender is broken.");

    public static readonly FindingRule Terminate = new("rdmap-terminate", FindingSeverity.Error,
        "A side terminated the RDMAP stream; the Terminate names the layer and the error.");

    public static readonly FindingRule MsnGap = new("ddp-msn-gap", FindingSeverity.Error,
        "Untagged messages on a queue do not follow each other (MSN skipped, repeated, or a message without its last segment): the receiver " +
        "terminates the connection (DDP invalid MSN). The sender lost or reordered messages; check its send path.");

    public static readonly FindingRule ReadResponseUnmatched = new("rdmap-read-response-unmatched", FindingSeverity.Error,
        "An RDMA Read Response arrived for which the peer had sent no matching RDMA Read Request (sink STag and offset): the receiver " +
        "rejects it. The responder answers a request that does not exist or sends to the wrong buffer; check its Read handling.");
}
