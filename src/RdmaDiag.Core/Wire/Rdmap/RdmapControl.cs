namespace RdmaDiag.Wire.Rdmap;

/// <summary>
/// The RDMAP control octet, carried in DDP's RsvdULP octet 0 (RFC 5040 §4.2).
/// <code>
///  +-+-+-+-+-+-+-+-+
///  |RV |Rsv| Opcode|    RV: 01b for RFC 5040 (00b RDMAC); Rsv sent 0, ignored
///  +-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly struct RdmapControl(byte raw)
{
    public const byte VersionMask = 0xC0;
    public const byte ReservedMask = 0x30;
    public const byte OpcodeMask = 0x0F;

    /// <summary>RV for RFC 5040.</summary>
    public const byte CurrentVersion = 1;

    public byte Raw { get; } = raw;

    /// <summary>RV (2 bits).</summary>
    public byte Version => (byte)(Raw >> 6);

    public byte Reserved => (byte)((Raw & ReservedMask) >> 4);

    public RdmapOpcode Opcode => (RdmapOpcode)(Raw & OpcodeMask);

    /// <summary>The octet for an opcode at RV 1, reserved bits zero.</summary>
    public static byte Encode(RdmapOpcode opcode, byte version = CurrentVersion) =>
        (byte)(((version & 3) << 6) | ((byte)opcode & OpcodeMask));

    public override string ToString() => $"RV {Version} {RdmapOpcodes.GetSpecName(Opcode)}";
}
