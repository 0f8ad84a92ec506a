namespace RdmaDiag.Wire.Mpa;

/// <summary>
/// Receive limits for MPA start-up frames. <see cref="MaxPrivateDataLength"/> bounds PD_Length, which
/// includes the 4-octet RFC 6581 block when S=1.
/// </summary>
public readonly record struct MpaLimits(int MaxPrivateDataLength)
{
    /// <summary>RFC 5044 §7.1: PD_Length at most 512 (also Wireshark, i40iw/irdma).</summary>
    public static MpaLimits Rfc { get; } = new(512);

    /// <summary>Linux siw and cxgb4 (RDMA_MAX_PRIVATE_DATA): PD_Length at most 256, v2 block included.</summary>
    public static MpaLimits Linux { get; } = new(256);
}
