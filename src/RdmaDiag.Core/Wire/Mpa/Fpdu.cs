using System.Buffers;
using System.Buffers.Binary;

namespace RdmaDiag.Wire.Mpa;

/// <summary>
/// MPA Framed PDU in full operation, without markers (RFC 5044 §4; markers: <see cref="MarkerInserter"/>,
/// <see cref="MarkerRemover"/>).
/// <code>
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |          ULPDU_Length         |                               |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
///  ~                 ULPDU (one DDP segment, N octets)              ~
///  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                               |  PAD (0-3 octets, zero)       |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |          CRC-32C, least-significant octet first               |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// The CRC covers ULPDU_Length through the last PAD octet.
/// </summary>
public static class Fpdu
{
    public const int LengthFieldSize = 2;
    public const int CrcSize = Crc32c.Size;

    /// <summary>Octets of framing around an unpadded ULPDU: length field and CRC.</summary>
    public const int Overhead = LengthFieldSize + CrcSize;

    /// <summary>The ULPDU_Length field can say at most 65535.</summary>
    public const int MaxUlpduLength = ushort.MaxValue;

    /// <summary>Longest possible FPDU (ULPDU_Length 65535, pad 3): a receive buffer of this size always fits.</summary>
    public const int MaxLength = LengthFieldSize + MaxUlpduLength + 3 + CrcSize;

    /// <summary>P = (−(N+2)) mod 4, so that the FPDU is a multiple of 4 octets.</summary>
    public static int PadLength(int ulpduLength) => -(ulpduLength + LengthFieldSize) & 3;

    /// <summary>2 + N + pad + 4.</summary>
    public static int TotalLength(int ulpduLength) => LengthFieldSize + ulpduLength + PadLength(ulpduLength) + CrcSize;

    /// <summary>Octets covered by the CRC when there are no markers: 2 + N + pad.</summary>
    public static int CrcCoverage(int ulpduLength) => LengthFieldSize + ulpduLength + PadLength(ulpduLength);

    /// <summary>Reads ULPDU_Length; false when fewer than 2 octets are given.</summary>
    public static bool TryReadUlpduLength(ReadOnlySpan<byte> source, out int ulpduLength)
    {
        if (source.Length < LengthFieldSize)
        {
            ulpduLength = 0;
            return false;
        }
        ulpduLength = BinaryPrimitives.ReadUInt16BigEndian(source);
        return true;
    }

    /// <summary>The finished CRC of an unmarked FPDU held at the front of <paramref name="fpdu"/>.</summary>
    public static uint ComputeCrc(ReadOnlySpan<byte> fpdu, int ulpduLength) => Crc32c.Compute(fpdu[..CrcCoverage(ulpduLength)]);

    /// <summary>
    /// Reads one unmarked FPDU from the front of <paramref name="source"/>. NeedMoreData until the whole
    /// FPDU (2 + N + pad + 4) is present. With <paramref name="verifyCrc"/>, a CRC mismatch returns
    /// InvalidData (<see cref="WireErrorKind.MpaCrcMismatch"/>) with <paramref name="fpdu"/> still filled
    /// in, because the frame boundary is known: the caller can report it and move on by
    /// <see cref="FpduView.TotalLength"/>.
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> source, bool verifyCrc, out FpduView fpdu, out WireError error)
    {
        error = default;
        fpdu = default;
        if (!TryReadUlpduLength(source, out int n))
        {
            return OperationStatus.NeedMoreData;
        }
        int total = TotalLength(n);
        if (source.Length < total)
        {
            return OperationStatus.NeedMoreData;
        }
        int coverage = CrcCoverage(n);
        uint received = Crc32c.ReadWire(source[coverage..]);
        uint computed = verifyCrc ? Crc32c.Compute(source[..coverage]) : 0;
        fpdu = new FpduView(source.Slice(LengthFieldSize, n), PadLength(n), received, computed, verifyCrc);
        if (verifyCrc && received != computed)
        {
            error = new WireError(WireErrorKind.MpaCrcMismatch, received, computed);
            return OperationStatus.InvalidData;
        }
        return OperationStatus.Done;
    }

    /// <summary>
    /// Frames a ULPDU that the caller has already placed at <c>fpdu[2..2+N]</c>: writes ULPDU_Length,
    /// zero pad and the CRC (or 0 when <paramref name="crcEnabled"/> is false). Returns the FPDU length.
    /// </summary>
    public static int Seal(Span<byte> fpdu, int ulpduLength, bool crcEnabled)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ulpduLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ulpduLength, MaxUlpduLength);
        int total = TotalLength(ulpduLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(fpdu.Length, total, nameof(fpdu));
        BinaryPrimitives.WriteUInt16BigEndian(fpdu, (ushort)ulpduLength);
        int coverage = CrcCoverage(ulpduLength);
        fpdu[(LengthFieldSize + ulpduLength)..coverage].Clear();
        Crc32c.WriteWire(fpdu[coverage..], crcEnabled ? Crc32c.Compute(fpdu[..coverage]) : 0);
        return total;
    }

    /// <summary>Copies <paramref name="ulpdu"/> into <paramref name="destination"/> and frames it.</summary>
    public static int Write(Span<byte> destination, ReadOnlySpan<byte> ulpdu, bool crcEnabled)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ulpdu.Length, MaxUlpduLength, nameof(ulpdu));
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, TotalLength(ulpdu.Length), nameof(destination));
        ulpdu.CopyTo(destination[LengthFieldSize..]);
        return Seal(destination, ulpdu.Length, crcEnabled);
    }
}

/// <summary>One FPDU as read by <see cref="Fpdu.TryRead"/>: a view over the caller's buffer.</summary>
public readonly ref struct FpduView
{
    internal FpduView(ReadOnlySpan<byte> ulpdu, int padLength, uint receivedCrc, uint computedCrc, bool crcChecked)
    {
        Ulpdu = ulpdu;
        PadLength = padLength;
        ReceivedCrc = receivedCrc;
        ComputedCrc = computedCrc;
        CrcChecked = crcChecked;
    }

    /// <summary>The DDP segment (ULPDU_Length octets).</summary>
    public ReadOnlySpan<byte> Ulpdu { get; }

    public int UlpduLength => Ulpdu.Length;

    public int PadLength { get; }

    /// <summary>The CRC field's value, read least-significant octet first.</summary>
    public uint ReceivedCrc { get; }

    /// <summary>The CRC computed over the coverage; 0 when the CRC was not checked.</summary>
    public uint ComputedCrc { get; }

    public bool CrcChecked { get; }

    public bool CrcMatches => CrcChecked && ReceivedCrc == ComputedCrc;

    /// <summary>Octets this FPDU occupies in the (unmarked) stream.</summary>
    public int TotalLength => Fpdu.TotalLength(Ulpdu.Length);
}
