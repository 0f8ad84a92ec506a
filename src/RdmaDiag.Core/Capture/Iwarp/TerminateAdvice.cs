using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>What to do about a received Terminate, by its catalogue entry.</summary>
internal static class TerminateAdvice
{
    public static string For(TerminateError e) => e.Name switch
    {
        "rdmap.protection.invalid_stag" or "rdmap.protection.base_bounds" or "rdmap.protection.access_rights"
            or "rdmap.protection.stag_not_in_stream" or "rdmap.protection.to_wrap"
            or "ddp.tagged.invalid_stag" or "ddp.tagged.base_bounds" or "ddp.tagged.stag_not_in_stream" or "ddp.tagged.to_wrap" =>
            "The peer used a steering tag (rkey) or address range the receiver does not accept: never registered, already " +
            "deregistered or invalidated, registered in another protection domain, without the needed access rights, or the " +
            "offset and length run past the registered region. Check how the applications exchange rkeys and addresses, and the " +
            "access flags of the memory registration.",
        "rdmap.protection.cannot_invalidate" or "rdmap.operation.cannot_invalidate" =>
            "A Send with Invalidate named an STag the receiver cannot invalidate (not a memory window or fast-registered region " +
            "of this connection). Check which rkey the sender asks to invalidate.",
        "rdmap.operation.unexpected_opcode" =>
            "The receiver does not accept this opcode. RFC 7306 messages (Immediate Data, Atomics, opcodes 8-11) are not " +
            "implemented by Linux siw; do not use them with such a peer.",
        "rdmap.operation.invalid_version" or "ddp.tagged.invalid_version" or "ddp.untagged.invalid_version" =>
            "The two ends speak different DDP/RDMAP versions: one is a pre-IETF RDMAC implementation. Configure both for IETF iWARP (MPA Rev 1 or 2).",
        "rdmap.operation.stream_catastrophic" =>
            "The receiver hit a fatal error on this connection; the common cause is more outstanding RDMA Reads than its IRD " +
            "(keep the initiator's ORD at or below the peer's IRD), or a misaligned atomic target.",
        "ddp.untagged.no_buffer" =>
            "A Send arrived when the receiver had no receive buffer posted (iWARP has no receiver-not-ready retry; this is fatal). " +
            "The application must post receives before its peer sends (flow control by credits).",
        "ddp.untagged.too_long" =>
            "A Send was longer than the receive buffer posted for it. Post larger receive buffers or send smaller messages.",
        "ddp.untagged.invalid_qn" or "ddp.untagged.msn_range" or "ddp.untagged.invalid_mo" =>
            "The sender's untagged message sequence broke (a wrong queue, lost or repeated messages, a wrong message offset). " +
            "Look at the sender's RDMA stack; see also any ddp-msn-gap finding.",
        "mpa.crc_error" =>
            "The receiver found an FPDU whose CRC does not match: the payload was changed on the path (a middlebox, a NIC offload bug). " +
            "Compare captures taken at both ends.",
        "mpa.marker_mismatch" =>
            "The receiver found a marker that disagrees with the FPDU lengths: a broken marker implementation on the sender. Turn markers off.",
        "mpa.invalid_start_frame" =>
            "The receiver could not accept the MPA Request or Reply. Compare both start frames with the MPA settings of each end.",
        "mpa.insufficient_ird" =>
            "The responder offered fewer inbound Read resources (IRD) than the initiator needs (ORD). Lower the initiator's ORD " +
            "(initiator_depth) or raise the responder's IRD (responder_resources).",
        "mpa.no_matching_rtr" =>
            "Peer-to-peer mode needs one RTR message type both ends support. Align the RTR settings (siw peer_to_peer, cxgb4 p2p_type).",
        _ =>
            "Read the terminating side's logs (dmesg for kernel iWARP drivers, the application's error output) around this time: " +
            "the Terminate says which layer failed.",
    };
}
