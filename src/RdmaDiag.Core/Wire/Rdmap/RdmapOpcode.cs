namespace RdmaDiag.Wire.Rdmap;

/// <summary>RDMAP opcodes (RFC 5040 §4.1, RFC 7306 §10.1), named as the RFCs spell them.</summary>
public enum RdmapOpcode : byte
{
    RdmaWrite = 0x0,
    RdmaReadRequest = 0x1,
    RdmaReadResponse = 0x2,
    Send = 0x3,
    SendWithInvalidate = 0x4,
    SendWithSolicitedEvent = 0x5,
    SendWithSolicitedEventAndInvalidate = 0x6,
    Terminate = 0x7,
    ImmediateData = 0x8,
    ImmediateDataWithSolicitedEvent = 0x9,
    AtomicRequest = 0xA,
    AtomicResponse = 0xB,
}

/// <summary>Per-opcode facts from iwarp-wire.md §5.2.</summary>
public static class RdmapOpcodes
{
    /// <summary>Highest assigned opcode; 0xC–0xE are unassigned and 0xF is experimental.</summary>
    public const RdmapOpcode Highest = RdmapOpcode.AtomicResponse;

    public static bool IsAssigned(RdmapOpcode opcode) => opcode <= Highest;

    /// <summary>The RFC spelling, e.g. "Send with Solicited Event and Invalidate".</summary>
    public static string GetSpecName(RdmapOpcode opcode) => opcode switch
    {
        RdmapOpcode.RdmaWrite => "RDMA Write",
        RdmapOpcode.RdmaReadRequest => "RDMA Read Request",
        RdmapOpcode.RdmaReadResponse => "RDMA Read Response",
        RdmapOpcode.Send => "Send",
        RdmapOpcode.SendWithInvalidate => "Send with Invalidate",
        RdmapOpcode.SendWithSolicitedEvent => "Send with Solicited Event",
        RdmapOpcode.SendWithSolicitedEventAndInvalidate => "Send with Solicited Event and Invalidate",
        RdmapOpcode.Terminate => "Terminate",
        RdmapOpcode.ImmediateData => "Immediate Data",
        RdmapOpcode.ImmediateDataWithSolicitedEvent => "Immediate Data with Solicited Event",
        RdmapOpcode.AtomicRequest => "Atomic Request",
        RdmapOpcode.AtomicResponse => "Atomic Response",
        (RdmapOpcode)0xF => "opcode 0xF (reserved for experiments)",
        _ => $"unassigned opcode 0x{(byte)opcode:X}",
    };

    /// <summary>RDMA Write and RDMA Read Response use the tagged buffer model; all others untagged.</summary>
    public static bool IsTagged(RdmapOpcode opcode) => opcode is RdmapOpcode.RdmaWrite or RdmapOpcode.RdmaReadResponse;

    /// <summary>The untagged queue number (RFC 7306 registry), or -1 for tagged and unassigned opcodes.</summary>
    public static int QueueNumber(RdmapOpcode opcode) => opcode switch
    {
        RdmapOpcode.Send or RdmapOpcode.SendWithInvalidate or RdmapOpcode.SendWithSolicitedEvent
            or RdmapOpcode.SendWithSolicitedEventAndInvalidate or RdmapOpcode.ImmediateData
            or RdmapOpcode.ImmediateDataWithSolicitedEvent => 0,
        RdmapOpcode.RdmaReadRequest or RdmapOpcode.AtomicRequest => 1,
        RdmapOpcode.Terminate => 2,
        RdmapOpcode.AtomicResponse => 3,
        _ => -1,
    };

    /// <summary>True for the two Send variants whose RsvdULP word carries an STag to invalidate.</summary>
    public static bool CarriesInvalidateSTag(RdmapOpcode opcode) =>
        opcode is RdmapOpcode.SendWithInvalidate or RdmapOpcode.SendWithSolicitedEventAndInvalidate;

    /// <summary>True when the message may carry ULP payload after its headers.</summary>
    public static bool CarriesPayload(RdmapOpcode opcode) =>
        opcode is RdmapOpcode.RdmaWrite or RdmapOpcode.RdmaReadResponse or RdmapOpcode.Send
            or RdmapOpcode.SendWithInvalidate or RdmapOpcode.SendWithSolicitedEvent
            or RdmapOpcode.SendWithSolicitedEventAndInvalidate;
}
