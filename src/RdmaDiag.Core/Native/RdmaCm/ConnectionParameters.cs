namespace RdmaDiag.Native;

/// <summary>
/// struct rdma_conn_param for rdma_connect / rdma_accept. On iWARP the private data travels in the MPA
/// Request/Reply and responder_resources / initiator_depth become MPA v2's IRD / ORD.
/// </summary>
public sealed record ConnectionParameters
{
    /// <summary>librdmacm's length field is a u8, and siw/cxgb4 accept at most 256 bytes of MPA private data.</summary>
    public const int MaxPrivateData = 255;

    public byte[] PrivateData { get; init; } = [];

    /// <summary>Inbound RDMA Reads this side will serve at once (IRD).</summary>
    public byte ResponderResources { get; init; } = 1;

    /// <summary>Outbound RDMA Reads this side will have outstanding (ORD).</summary>
    public byte InitiatorDepth { get; init; } = 1;

    public byte FlowControl { get; init; } = 1;

    /// <summary>Ignored when accepting, and by iWARP (TCP retransmits).</summary>
    public byte RetryCount { get; init; } = 7;

    public byte RnrRetryCount { get; init; } = 7;

    internal unsafe Interop.RdmaCm.rdma_conn_param ToNative(byte* privateData)
    {
        if (PrivateData.Length > MaxPrivateData)
        {
            throw new UserInputException(
                $"private data of {PrivateData.Length} bytes: rdma_cm carries at most {MaxPrivateData}");
        }
        return new Interop.RdmaCm.rdma_conn_param
        {
            private_data = PrivateData.Length == 0 ? null : privateData,
            private_data_len = (byte)PrivateData.Length,
            responder_resources = ResponderResources,
            initiator_depth = InitiatorDepth,
            flow_control = FlowControl,
            retry_count = RetryCount,
            rnr_retry_count = RnrRetryCount,
        };
    }
}
