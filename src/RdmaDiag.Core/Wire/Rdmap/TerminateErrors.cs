using System.Collections.Frozen;

namespace RdmaDiag.Wire.Rdmap;

/// <summary>The layer nibble of a Terminate control word (RFC 5040 §4.8).</summary>
public enum TerminateLayer : byte
{
    Rdmap = 0,
    Ddp = 1,
    Llp = 2,
}

/// <summary>One (layer, error type, code) of the Terminate registries, with a stable name and a sentence.</summary>
/// <param name="Code">The error code, or -1 where the registry assigns the whole error type ("ALL").</param>
/// <param name="Name">Stable identifier, e.g. <c>ddp.tagged.base_bounds</c>; <c>unknown</c> for unassigned values.</param>
/// <param name="Description">One sentence, e.g. "DDP tagged buffer: base or bounds violation".</param>
public sealed record TerminateError(byte Layer, byte EType, int Code, string Name, string Description)
{
    public bool IsKnown => Name != TerminateErrors.UnknownName;

    /// <summary>The first two octets of the control word: (Layer &lt;&lt; 4 | EType), code.</summary>
    public ushort Value => (ushort)((Layer << 12) | (EType << 8) | (Code < 0 ? 0 : Code));

    public override string ToString() => $"{Layer}/{EType}/0x{(Code < 0 ? 0 : Code):X2} {Name}: {Description}";
}

/// <summary>
/// Every Terminate error of RFC 5040 Fig. 9, RFC 5041 §7.2, RFC 5044 §8 and RFC 6581 §8 (iwarp-wire.md §5.6).
/// </summary>
public static class TerminateErrors
{
    public const string UnknownName = "unknown";

    /// <summary>EType that cxgb4 pairs with Layer 2 for every MPA error (octet 0x23; RFC value 0x20).</summary>
    public const byte Cxgb4MpaEType = 3;

    private const int AnyCode = -1;

    public static readonly TerminateError RdmapLocalCatastrophic = new(0, 0, AnyCode, "rdmap.local_catastrophic", "RDMAP: local catastrophic error");
    public static readonly TerminateError RdmapInvalidSTag = new(0, 1, 0x00, "rdmap.protection.invalid_stag", "RDMAP remote protection: invalid STag");
    public static readonly TerminateError RdmapBaseOrBounds = new(0, 1, 0x01, "rdmap.protection.base_bounds", "RDMAP remote protection: base or bounds violation");
    public static readonly TerminateError RdmapAccessRights = new(0, 1, 0x02, "rdmap.protection.access_rights", "RDMAP remote protection: access rights violation");
    public static readonly TerminateError RdmapSTagNotInStream = new(0, 1, 0x03, "rdmap.protection.stag_not_in_stream", "RDMAP remote protection: STag not associated with RDMAP stream");
    public static readonly TerminateError RdmapToWrap = new(0, 1, 0x04, "rdmap.protection.to_wrap", "RDMAP remote protection: TO wrap");
    public static readonly TerminateError RdmapProtectionCannotInvalidate = new(0, 1, 0x09, "rdmap.protection.cannot_invalidate", "RDMAP remote protection: STag cannot be invalidated");
    public static readonly TerminateError RdmapProtectionUnspecified = new(0, 1, 0xFF, "rdmap.protection.unspecified", "RDMAP remote protection: unspecified error");
    public static readonly TerminateError RdmapInvalidVersion = new(0, 2, 0x05, "rdmap.operation.invalid_version", "RDMAP remote operation: invalid RDMAP version");
    public static readonly TerminateError RdmapUnexpectedOpcode = new(0, 2, 0x06, "rdmap.operation.unexpected_opcode", "RDMAP remote operation: unexpected opcode");
    public static readonly TerminateError RdmapStreamCatastrophic = new(0, 2, 0x07, "rdmap.operation.stream_catastrophic", "RDMAP remote operation: catastrophic error, local to this RDMAP stream (also IRD overrun or a misaligned atomic target)");
    public static readonly TerminateError RdmapGlobalCatastrophic = new(0, 2, 0x08, "rdmap.operation.global_catastrophic", "RDMAP remote operation: catastrophic error, global");
    public static readonly TerminateError RdmapOperationCannotInvalidate = new(0, 2, 0x09, "rdmap.operation.cannot_invalidate", "RDMAP remote operation: STag cannot be invalidated");
    public static readonly TerminateError RdmapOperationUnspecified = new(0, 2, 0xFF, "rdmap.operation.unspecified", "RDMAP remote operation: unspecified error");

    public static readonly TerminateError DdpLocalCatastrophic = new(1, 0, 0x00, "ddp.local_catastrophic", "DDP: local catastrophic error");
    public static readonly TerminateError DdpTaggedInvalidSTag = new(1, 1, 0x00, "ddp.tagged.invalid_stag", "DDP tagged buffer: invalid STag");
    public static readonly TerminateError DdpTaggedBaseOrBounds = new(1, 1, 0x01, "ddp.tagged.base_bounds", "DDP tagged buffer: base or bounds violation");
    public static readonly TerminateError DdpTaggedSTagNotInStream = new(1, 1, 0x02, "ddp.tagged.stag_not_in_stream", "DDP tagged buffer: STag not associated with DDP stream");
    public static readonly TerminateError DdpTaggedToWrap = new(1, 1, 0x03, "ddp.tagged.to_wrap", "DDP tagged buffer: TO wrap");
    public static readonly TerminateError DdpTaggedInvalidVersion = new(1, 1, 0x04, "ddp.tagged.invalid_version", "DDP tagged buffer: invalid DDP version");
    public static readonly TerminateError DdpUntaggedInvalidQn = new(1, 2, 0x01, "ddp.untagged.invalid_qn", "DDP untagged buffer: invalid QN");
    public static readonly TerminateError DdpUntaggedNoBuffer = new(1, 2, 0x02, "ddp.untagged.no_buffer", "DDP untagged buffer: invalid MSN, no buffer available (no receive posted; fatal)");
    public static readonly TerminateError DdpUntaggedMsnRange = new(1, 2, 0x03, "ddp.untagged.msn_range", "DDP untagged buffer: invalid MSN, MSN out of range");
    public static readonly TerminateError DdpUntaggedInvalidMo = new(1, 2, 0x04, "ddp.untagged.invalid_mo", "DDP untagged buffer: invalid MO");
    public static readonly TerminateError DdpUntaggedTooLong = new(1, 2, 0x05, "ddp.untagged.too_long", "DDP untagged buffer: DDP message too long for the available buffer");
    public static readonly TerminateError DdpUntaggedInvalidVersion = new(1, 2, 0x06, "ddp.untagged.invalid_version", "DDP untagged buffer: invalid DDP version");
    public static readonly TerminateError DdpLlpReserved = new(1, 3, AnyCode, "ddp.llp_reserved", "DDP: error type 3, reserved for the LLP");

    public static readonly TerminateError MpaConnectionLost = new(2, 0, 0x01, "mpa.connection_lost", "MPA: TCP connection closed, terminated or lost");
    public static readonly TerminateError MpaCrcError = new(2, 0, 0x02, "mpa.crc_error", "MPA: CRC error");
    public static readonly TerminateError MpaMarkerMismatch = new(2, 0, 0x03, "mpa.marker_mismatch", "MPA: marker and ULPDU_Length mismatch");
    public static readonly TerminateError MpaInvalidStartFrame = new(2, 0, 0x04, "mpa.invalid_start_frame", "MPA: invalid MPA Request or Reply frame");
    public static readonly TerminateError MpaLocalCatastrophic = new(2, 0, 0x05, "mpa.local_catastrophic", "MPA: local catastrophic error");
    public static readonly TerminateError MpaInsufficientIrd = new(2, 0, 0x06, "mpa.insufficient_ird", "MPA: insufficient IRD resources");
    public static readonly TerminateError MpaNoMatchingRtr = new(2, 0, 0x07, "mpa.no_matching_rtr", "MPA: no matching RTR option");

    /// <summary>Every catalogued error, in registry order.</summary>
    public static IReadOnlyList<TerminateError> All { get; } =
    [
        RdmapLocalCatastrophic, RdmapInvalidSTag, RdmapBaseOrBounds, RdmapAccessRights, RdmapSTagNotInStream, RdmapToWrap,
        RdmapProtectionCannotInvalidate, RdmapProtectionUnspecified, RdmapInvalidVersion, RdmapUnexpectedOpcode,
        RdmapStreamCatastrophic, RdmapGlobalCatastrophic, RdmapOperationCannotInvalidate, RdmapOperationUnspecified,
        DdpLocalCatastrophic, DdpTaggedInvalidSTag, DdpTaggedBaseOrBounds, DdpTaggedSTagNotInStream, DdpTaggedToWrap,
        DdpTaggedInvalidVersion, DdpUntaggedInvalidQn, DdpUntaggedNoBuffer, DdpUntaggedMsnRange, DdpUntaggedInvalidMo,
        DdpUntaggedTooLong, DdpUntaggedInvalidVersion, DdpLlpReserved,
        MpaConnectionLost, MpaCrcError, MpaMarkerMismatch, MpaInvalidStartFrame, MpaLocalCatastrophic, MpaInsufficientIrd,
        MpaNoMatchingRtr,
    ];

    private static readonly FrozenDictionary<int, TerminateError> ByKey =
        All.ToFrozenDictionary(e => Key(e.Layer, e.EType, e.Code));

    private static int Key(byte layer, byte etype, int code) => (layer << 16) | (etype << 8) | (code & 0xFF) | (code < 0 ? 0x1000000 : 0);

    /// <summary>True for cxgb4's MPA encoding: Layer 2 with EType 3 (octet 0x23) where RFC 6581 has 0x20.</summary>
    public static bool IsCxgb4MpaEncoding(byte layer, byte etype) => layer == (byte)TerminateLayer.Llp && etype == Cxgb4MpaEType;

    /// <summary>
    /// The catalogue entry for a received (layer, etype, code); cxgb4's Layer 2 / EType 3 is read as MPA.
    /// Unassigned combinations get an entry named <see cref="UnknownName"/> that states the raw numbers.
    /// </summary>
    public static TerminateError Lookup(byte layer, byte etype, byte code)
    {
        byte normalised = IsCxgb4MpaEncoding(layer, etype) ? (byte)0 : etype;
        if (ByKey.TryGetValue(Key(layer, normalised, code), out var exact) || ByKey.TryGetValue(Key(layer, normalised, AnyCode), out exact))
        {
            return exact;
        }
        return new TerminateError(layer, etype, code, UnknownName,
            $"unassigned Terminate error: layer {layer} ({LayerName(layer)}), error type {etype}, code 0x{code:X2}");
    }

    public static string LayerName(byte layer) => layer switch
    {
        0 => "RDMAP",
        1 => "DDP",
        2 => "LLP/MPA",
        _ => "unassigned layer",
    };
}
